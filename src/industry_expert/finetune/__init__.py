"""Fine-tuning: datasets (load, validate, build from the workspace), LoRA/QLoRA training, export."""

from .dataset import DatasetError, DatasetReport, Example, check_dataset, load_examples, to_messages

__all__ = ["DatasetError", "DatasetReport", "Example", "check_dataset", "load_examples", "to_messages"]
