"""The assistant's named exceptions; messages are written for the person who will read them."""


class AssistantError(Exception):
    """Base of every error the assistant raises on purpose."""


class ConfigError(AssistantError):
    """A setting has a value the assistant cannot use."""


class BackendError(AssistantError):
    """The language model backend could not produce text (server down, model missing)."""


class ModelUnavailable(BackendError):
    """The model files or package are not installed or cannot be loaded."""
