"""keras.models: convnet's models (Sequential and Model take layers of either namespace)."""
from ..models import Model, Sequential, clone_model, load_model, model_from_config

__all__ = ["Model", "Sequential", "clone_model", "load_model", "model_from_config"]
