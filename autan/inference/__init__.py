"""Inference: libllama wrapper, continuous-batching scheduler, sampling. No HTTP, no storage."""
