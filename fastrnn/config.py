"""The reference's ``common.config``: ``GPU`` is always False, fastrnn runs on the CPU.

Scripts that set ``config.GPU = True`` keep running; ``fastrnn.util.to_gpu``
then returns its NumPy array unchanged.
"""
GPU = False
