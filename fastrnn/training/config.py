"""A training run's configuration: typed sections, the presets of ``--model``, and
every default, each written once.

A run's configuration is stored in its checkpoints and params files as one flat
JSON object (the ``settings`` entry, one key a field: ``to_dict``).
``RunConfig.from_dict`` reads it back, the files of an older fastrnn included:
a key they lack takes its default, the preset's where the preset has one (but
for ``BEFORE``: what the files of a fastrnn without the setting ran with).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace


@dataclass(frozen=True)
class Preset:
    """What ``--model NAME`` means: the reference's class and the book's settings
    (AWD-LSTM's for ``awd``), and in ``settings`` any other setting the preset
    changes from its section's default (flat names, ``KEYS``)."""

    model_class: str
    cell: str
    layers: int
    tied: bool
    wordvec_size: int
    hidden_size: int
    dropout: float | None
    lr: float
    epochs: int
    lr_schedule: str
    settings: dict = field(default_factory=dict)


PRESETS = {
    # the book's lr 20 diverges for the vanilla RNN on full PTB; 5 learns
    "simple": Preset("SimpleRnnlm", "rnn", 1, False, 100, 100, None, 5.0, 4, "none"),
    "rnnlm": Preset("Rnnlm", "lstm", 1, False, 100, 100, None, 20.0, 4, "none"),
    "better": Preset("BetterRnnlm", "lstm", 2, True, 650, 650, 0.5, 20.0, 40, "plateau"),
    "awd": Preset("RnnLanguageModel", "lstm", 3, True, 400, 1150, 0.4, 30.0, 500, "none",
                  {"last_size": 400, "input_dropout": 0.4, "hidden_dropout": 0.25, "locked": True,
                   "embed_dropout": 0.1, "weight_drop": 0.5, "ar": 2.0, "tar": 1.0, "time_size": 70,
                   "variable_bptt": True, "weight_decay": 1.2e-6, "average": "ntasgd"}),
}
"""The presets: the book's chapter-5 (SimpleRnnlm, Rnnlm) and chapter-6 (BetterRnnlm) settings,
and AWD-LSTM's on PTB (Merity et al. 2017, their code's PTB command)."""
REGULARISERS = ("last_size", "input_dropout", "hidden_dropout", "locked", "embed_dropout", "weight_drop", "ar", "tar")
"""The settings of ``ModelConfig`` that are RnnLanguageModel's keywords of the same names."""
DEFAULT_MODEL = "rnnlm"


@dataclass
class ModelConfig:
    """The network: a preset's class, or an ``RnnLanguageModel`` of another structure."""

    model: str = DEFAULT_MODEL
    cell: str = "lstm"
    layers: int = 1
    tied: bool = False
    wordvec_size: int = 100
    hidden_size: int = 100
    dropout: float | None = None
    last_size: int | None = None
    input_dropout: float | None = None
    hidden_dropout: float | None = None
    locked: bool = False
    embed_dropout: float | None = None
    weight_drop: float | None = None
    ar: float = 0.0
    tar: float = 0.0
    head: str = "full"
    cutoffs: list | None = None
    div_value: float | None = None
    precision: str = "fp32"
    seed: int = 0

    @property
    def preset(self) -> Preset:
        return PRESETS[self.model]

    def is_preset(self) -> bool:
        """Whether the preset's own class builds this network (one of the book's;
        same cell, layers and tying, dropout exactly when the preset has it, no
        regulariser of AWD-LSTM's)."""
        p = self.preset
        return (p.model_class != "RnnLanguageModel"
                and (self.cell, self.layers, self.tied) == (p.cell, p.layers, p.tied)
                and (self.dropout is None) == (p.dropout is None)
                and all(getattr(self, k) == getattr(ModelConfig, k) for k in REGULARISERS))

    @property
    def last(self) -> int:
        """The hidden size of the last recurrent layer (the output head's input)."""
        return self.hidden_size if self.last_size is None else self.last_size


@dataclass
class DataConfig:
    """The text: the bundled Penn Treebank (no ``train_file``) or the user's files."""

    train_file: str | None = None
    valid_file: str | None = None
    test_file: str | None = None
    vocab_size: int | None = None
    min_count: int | None = None
    cache_dir: str | None = None
    tokens: str = "words"


@dataclass
class OptimConfig:
    """The update of each step."""

    optimizer: str = "sgd"
    lr: float = 20.0
    max_grad: float = 0.25
    weight_decay: float = 0.0
    batch_size: int = 20
    time_size: int = 35
    variable_bptt: bool = False
    """Each step's window length drawn around ``time_size``, its lr scaled (``fastrnn.training.bptt``)."""


@dataclass
class ScheduleConfig:
    """How long the run is (its first limit reached ends it) and how its learning rate
    moves (``fastrnn.training.schedule``)."""

    epochs: int = 4
    max_iters: int | None = None
    max_words: int | None = None
    """Words of training at most (whole steps: the first step that reaches it is the last)."""
    max_time: float | None = None
    """Seconds of training at most, evaluations included (``fastrnn.training.budget``)."""
    lr_schedule: str = "none"
    lr_decay: float = 4.0
    patience: int = 1
    min_lr: float = 0.0
    average: str = "none"
    """Evaluate and keep an average of the params: "none", "ntasgd" or "tail" (``fastrnn.training.average``)."""
    nonmono: int = 5
    """ntasgd: the validation checks a worse one is compared past."""
    average_from: float = 0.75
    """tail: the share of the run's steps after which averaging starts."""


@dataclass
class OutputConfig:
    """What the run reports and keeps."""

    eval_interval: int = 20
    checkpoint_every: int = 500
    log: str | None = None


@dataclass
class ParallelConfig:
    """How the processes of an ``mpiexec`` run work together (``fastrnn.parallel``)."""

    overlap: bool = True
    """Sum each layer's grads while the backward pass goes on (the same bits as after it)."""
    grad_precision: str = "fp32"
    """How the grads travel: "fp32", or "bf16" (half the bytes; the processes stay equal)."""
    batch_per_process: int | None = None
    """Rows of each process (the batch then grows with the processes); None: ``batch_size`` is the whole batch."""


SECTIONS = {"model": ModelConfig, "data": DataConfig, "optim": OptimConfig, "schedule": ScheduleConfig,
            "output": OutputConfig, "parallel": ParallelConfig}


@dataclass
class RunConfig:
    """Every setting of a training run, in sections."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)

    @classmethod
    def of(cls, model: str, given: dict) -> RunConfig:
        """The configuration of ``--model model`` with the settings ``given`` (flat
        keys, see ``KEYS``); every other setting its preset's or section's default."""
        unknown = set(given) - set(KEYS) - {"model"}
        if unknown:
            raise KeyError(f"unknown settings: {', '.join(sorted(unknown))}")
        p = PRESETS[model]
        flat = {**{k: getattr(p, k) for k in KEYS if hasattr(p, k)}, **p.settings, **given, "model": model}
        if flat.get("head") == "adaptive" and flat.get("div_value") is None:
            flat["div_value"] = 4.0
        return cls(**{name: section(**{f.name: flat[f.name] for f in fields(section) if f.name in flat})
                      for name, section in SECTIONS.items()})

    @classmethod
    def from_dict(cls, settings: dict) -> RunConfig:
        """The configuration a file stored (``to_dict``), of this fastrnn or an older one."""
        return cls.of(settings["model"], {**BEFORE, **{k: v for k, v in settings.items() if k in KEYS}})

    def to_dict(self) -> dict:
        """The flat JSON-ready form files store."""
        return {k: v for section in SECTIONS for k, v in asdict(getattr(self, section)).items()}

    def with_changes(self, **changes) -> RunConfig:
        """A copy with the flat settings ``changes``."""
        return RunConfig(**{name: replace(getattr(self, name), **{k: v for k, v in changes.items()
                                                                 if k in {f.name for f in fields(section)}})
                            for name, section in SECTIONS.items()})


BEFORE = {"variable_bptt": False}
"""Settings a preset gained after its files were first written: what a file without them ran with."""

KEYS = tuple(f.name for section in SECTIONS.values() for f in fields(section))
"""Every setting's flat name, section by section."""
