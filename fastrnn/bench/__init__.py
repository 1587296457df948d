"""Side-by-side throughput of fastrnn, PyTorch and the reference's NumPy design.

Run ``python -m fastrnn.bench``.
"""
