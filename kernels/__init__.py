"""Numba kernels of fastrnn, installed as ``fastrnn.kernels``.

Kernels compute and trust their inputs: contiguous arrays of one floating dtype,
word ids already checked to lie in ``[0, V)``.  The wrappers in ``fastrnn`` do
every check before a kernel runs.
"""
