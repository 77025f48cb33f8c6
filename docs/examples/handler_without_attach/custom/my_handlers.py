class LossLogger:
    """Forgot attach(engine)."""

    def __call__(self, engine):
        print(engine.state.output)
