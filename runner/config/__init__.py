"""Config files: variables, pydantic models, loading and error reporting."""
