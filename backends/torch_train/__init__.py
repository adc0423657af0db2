"""The torch backend of ``cnnc train``: the NumPy model's weights trained by PyTorch, on one process or many (DDP)."""
