"""The shared pretrained sentence encoder (all-MiniLM-L6-v2, int8 ONNX): see model.py."""
