"""``fastrnn train``'s engine: a run's configuration (``config``), its corpus
(``corpus``), its batches (``batches``), the state each stateful part gives and
takes (``state``), the checkpoint that composes those states (``checkpoint``),
its output directory (``output``), the model and optimizer it builds (``build``)
and the loop over epochs and steps (``loop``)."""
