"""The cnnc grammar, shipped as package data."""
