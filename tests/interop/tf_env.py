"""The TensorFlow environment of the interop checks: quiet logs, no GPU, and
numpy + tensorflow imported, or exit 77 (skipped) when they do not import.

    from tf_env import np, tf      # first, before anything imports tensorflow
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

try:
    import numpy as np
    import tensorflow as tf
except Exception as e:  # pragma: no cover - depends on the machine
    print(f"SKIP: tensorflow does not import ({e}); pip install tensorflow-cpu to run this check")
    sys.exit(77)

__all__ = ["np", "tf"]
