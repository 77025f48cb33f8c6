"""A handler written for MONAI 0.8 that names a class through MONAI's alias registry (gone since 1.4)."""
from ignite.engine import Events
from monai.utils import resolve_name


class Logger:
    def attach(self, engine):
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, engine):
        print(resolve_name("UNet"), engine.state.epoch)
