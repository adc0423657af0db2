"""Optimizers (SGD with momentum and Nesterov, Adam, AdamW) and learning-rate schedules.

The update rules follow PyTorch's ``torch.optim`` documentation, so a model trained here and one
trained there from the same weights take the same steps. Each optimizer updates the parameter
arrays in place and keeps its per-parameter state as arrays, which ``save`` writes out."""

from __future__ import annotations

import math

import numpy as np

from cnnc.arguments import bad_argument, flag, number_in, positive_number, whole_number

Arrays = dict[str, np.ndarray]

MIN_PARALLEL_VALUES = 1 << 21
"""The fewest gradient values whose update ``Optimizer.step`` deals to threads, and whose sum over a batch's
shards ``Model.batch_loss`` does: below, one thread does it all. Momentum SGD on this project's two-core
machine, one thread against two (median of 50 steps, best of 3 runs): 0.04 against 0.12 ms for 65,536 values,
1.24 against 1.35 for 1M, 6.0 against 4.2 for 4M (LeNet-5 has 61,706 parameters, the CIFAR net of
bench/train_throughput.py 2.2M). The sum of LeNet-5's two shards' gradients (scratch timing, 2,000 calls):
0.19-0.22 ms on two threads, 0.035 on one."""


def elementwise_threads(arrays: Arrays, threads: int) -> int:
    """The threads an elementwise pass over ``arrays`` is dealt to: ``threads`` from ``MIN_PARALLEL_VALUES``
    values on, else one."""
    return threads if sum(array.size for array in arrays.values()) >= MIN_PARALLEL_VALUES else 1


class Schedule:
    """A learning-rate multiplier per epoch (epochs count from 0)."""

    def factor(self, epoch: int, epochs: int) -> float:
        return 1.0

    def config(self) -> dict:
        return {"schedule": "constant"}

    def settings(self) -> dict[str, object]:
        """The ``train { }`` settings that make this schedule."""
        return {"schedule": "constant"}


class Step(Schedule):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs (PyTorch's StepLR)."""

    def __init__(self, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = whole_number(step_size, "step_size")
        self.gamma = number_in(gamma, "gamma", "a decay factor in (0, 1]", lambda g: 0 < g <= 1)

    def factor(self, epoch: int, epochs: int) -> float:
        return self.gamma ** (epoch // self.step_size)

    def config(self) -> dict:
        return {"schedule": "step", "step_size": self.step_size, "gamma": self.gamma}

    def settings(self) -> dict[str, object]:
        return self.config()


class Cosine(Schedule):
    """Anneal from the rate to ``min_factor`` times it along half a cosine over ``epochs``
    (PyTorch's CosineAnnealingLR with T_max = epochs). None: the epochs done so far plus those of
    the current ``fit``; give the total when training is split over several calls."""

    def __init__(self, epochs: int | None = None, min_factor: float = 0.0) -> None:
        self.epochs = None if epochs is None else whole_number(epochs, "epochs")
        self.min_factor = number_in(min_factor, "min_factor", "a factor in [0, 1]", lambda f: 0 <= f <= 1)

    def factor(self, epoch: int, epochs: int) -> float:
        span = self.epochs or epochs
        return self.min_factor + (1 - self.min_factor) * (1 + math.cos(math.pi * min(epoch, span) / span)) / 2

    def config(self) -> dict:
        return {"schedule": "cosine", "epochs": self.epochs, "min_factor": self.min_factor}

    def settings(self) -> dict[str, object]:
        """``schedule=cosine``; a span or a floor set from Python has no ``train { }`` setting."""
        return {"schedule": "cosine"}


def schedule_from_config(config: dict) -> Schedule:
    kind = config.get("schedule", "constant")
    if kind == "step":
        return Step(config["step_size"], config["gamma"])
    if kind == "cosine":
        return Cosine(config.get("epochs"), config.get("min_factor", 0.0))
    return Schedule()


class Optimizer:
    """Updates parameters in place from their gradients. ``lr`` is the base rate; ``set_epoch``
    applies the schedule to give the current rate ``self.rate``."""

    name = "optimizer"
    state_names: tuple[str, ...] = ()

    def __init__(self, lr: float, weight_decay: float = 0.0, schedule: Schedule | None = None) -> None:
        self.lr = positive_number(lr, "lr")
        self.rate = self.lr
        self.weight_decay = number_in(weight_decay, "weight_decay", "a weight decay of 0 or more", lambda w: w >= 0)
        if schedule is not None and not isinstance(schedule, Schedule):
            raise TypeError(bad_argument("schedule", "a cnnc.optim.Schedule or None", schedule))
        self.schedule = schedule or Schedule()
        self.state: dict[str, Arrays] = {name: {} for name in self.state_names}
        self.steps = 0
        self.epoch = 0  # epochs completed, across fit calls
        self.compiled: object | None = None  # the compiled updates of the current ``step``, if any

    def set_epoch(self, epoch: int, epochs: int) -> float:
        self.rate = self.lr * self.schedule.factor(epoch, epochs)
        return self.rate

    def step(self, params: Arrays, grads: Arrays, threads: int = 1, compiled: object | None = None) -> None:
        """Update every parameter that has a gradient; ``threads`` above 1: the parameters dealt to that many
        threads (``cnnc.shards``), each updated as on one (the same values), if they hold at least
        ``MIN_PARALLEL_VALUES``. ``compiled``: a backend's compiled updates (``Program.compiled_updates``),
        which an optimizer may use for the same values faster."""
        self.compiled = compiled
        self.steps += 1
        threads = elementwise_threads(grads, threads)
        if threads == 1:
            for key, grad in grads.items():
                self.update(key, params[key], grad)
            return
        from cnnc import shards

        for key in grads:  # the state made whole here, before threads update parts of it
            for name in self.slots_used():
                self.slot(name, key, params[key])

        def splittable(key: str) -> bool:  # its parts are views: the updates reach the parameter and its state
            return params[key].flags.c_contiguous and all(
                self.state[name][key].flags.c_contiguous for name in self.slots_used())

        def update_part(key: str, part: slice) -> None:
            if splittable(key):
                self.update(key, shards.flat(params[key])[part], shards.flat(grads[key])[part], part)
            else:  # one part, the whole parameter
                self.update(key, params[key], grads[key])
        shards.for_each_part(grads, threads, update_part, splittable)

    def update(self, key: str, param: np.ndarray, grad: np.ndarray, part: slice | None = None) -> None:
        """Update ``param`` in place; ``part``: ``param`` and ``grad`` are that range of the parameter's and its
        gradient's flattened values (``step`` on threads), and so is the state used."""
        raise NotImplementedError

    def slots_used(self) -> tuple[str, ...]:
        """The state ``update`` keeps per parameter."""
        return self.state_names

    def slot(self, name: str, key: str, like: np.ndarray, part: slice | None = None) -> np.ndarray:
        """Per-parameter state, zero until first used; ``part``: that range of its flattened values."""
        found = self.state[name].get(key)
        if found is None:
            found = self.state[name][key] = np.zeros_like(like)
        return found if part is None else found.reshape(-1)[part]

    def config(self) -> dict:
        return {"optimizer": self.name, "lr": self.lr, "weight_decay": self.weight_decay,
                "steps": self.steps, "epoch": self.epoch, **self.schedule.config()}

    def settings(self) -> dict[str, object]:
        """The ``train { }`` settings that make this optimizer and its schedule, in the docs' order."""
        return {"optimizer": self.name, "lr": self.lr, "weight_decay": self.weight_decay,
                **self.schedule.settings()}

    def extras(self) -> dict[str, object]:
        """Settings a ``train { }`` section cannot give (Adam's betas and eps; a cosine's span)."""
        schedule = self.schedule.settings()
        return {key: value for key, value in self.schedule.config().items()
                if key not in schedule and value not in (None, 0.0)}

    def describe(self) -> str:
        """``optimizer=momentum lr=0.05 momentum=0.9 nesterov=false weight_decay=0 schedule=constant``:
        the settings as a spec's ``train { }`` section writes them, then any it cannot write."""
        text = " ".join(f"{key}={setting_text(value)}" for key, value in self.settings().items())
        extras = self.extras()
        if extras:
            text += " (" + "; ".join(f"{key} {setting_text(value)}" for key, value in extras.items()) + ")"
        return text


class SGD(Optimizer):
    """v = momentum v + (g + wd p); p -= lr (g + wd p + momentum v) with Nesterov, else lr v."""

    name = "sgd"
    state_names = ("velocity",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, schedule: Schedule | None = None) -> None:
        super().__init__(lr, weight_decay, schedule)
        self.momentum = number_in(momentum, "momentum", "a momentum in [0, 1)", lambda m: 0 <= m < 1)
        self.nesterov = flag(nesterov, "nesterov")

    def slots_used(self) -> tuple[str, ...]:
        return self.state_names if self.momentum else ()

    def update(self, key: str, param: np.ndarray, grad: np.ndarray, part: slice | None = None) -> None:
        velocity = self.slot("velocity", key, param, part) if self.momentum else None
        if self.compiled is not None and self.compiled.sgd(param, grad, velocity, self.momentum, self.weight_decay,
                                                           self.rate, self.nesterov):
            return  # one compiled pass, the values of the NumPy passes below
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        if velocity is not None:
            velocity *= self.momentum
            velocity += grad
            grad = grad + self.momentum * velocity if self.nesterov else velocity
        param -= self.rate * grad

    def config(self) -> dict:
        return {**super().config(), "momentum": self.momentum, "nesterov": self.nesterov}

    def settings(self) -> dict[str, object]:
        """``optimizer=momentum`` for SGD with momentum (as a recipe writes it), else ``sgd``."""
        found = super().settings()
        if self.momentum:
            found = {"optimizer": "momentum", "lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov,
                     **{key: value for key, value in found.items() if key not in ("optimizer", "lr")}}
        return found


class Adam(Optimizer):
    """Kingma & Ba 2015 with bias correction; ``weight_decay`` adds wd p to the gradient (L2)."""

    name = "adam"
    state_names = ("m", "v")
    decoupled = False

    def __init__(self, lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, schedule: Schedule | None = None) -> None:
        super().__init__(lr, weight_decay, schedule)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(bad_argument("betas", "two numbers in [0, 1)", betas))
        self.betas = tuple(number_in(beta, "betas", "two numbers in [0, 1)", lambda b: 0 <= b < 1) for beta in betas)
        self.eps = positive_number(eps, "eps")

    def update(self, key: str, param: np.ndarray, grad: np.ndarray, part: slice | None = None) -> None:
        beta1, beta2 = self.betas
        if self.weight_decay and self.decoupled:
            param *= 1 - self.rate * self.weight_decay
        elif self.weight_decay:
            grad = grad + self.weight_decay * param
        m, v = self.slot("m", key, param, part), self.slot("v", key, param, part)
        m *= beta1
        m += (1 - beta1) * grad
        v *= beta2
        v += (1 - beta2) * grad * grad
        correction1 = 1 - beta1 ** self.steps
        correction2 = 1 - beta2 ** self.steps
        denominator = np.sqrt(v) / math.sqrt(correction2) + self.eps
        param -= (self.rate / correction1) * (m / denominator)

    def config(self) -> dict:
        return {**super().config(), "betas": list(self.betas), "eps": self.eps}

    def extras(self) -> dict[str, object]:
        return {**super().extras(), "betas": self.betas, "eps": self.eps}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): p *= 1 - lr wd each step."""

    name = "adamw"
    decoupled = True

    def __init__(self, lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01, schedule: Schedule | None = None) -> None:
        super().__init__(lr, betas, eps, weight_decay, schedule)


def setting_text(value: object) -> str:
    """A setting's value as a spec writes it: ``true``, ``0.05``, ``1e-08``, ``0.9, 0.999``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ", ".join(setting_text(item) for item in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def from_config(config: dict) -> Optimizer:
    """The optimizer a ``config()`` describes (its state starts empty)."""
    name = config["optimizer"]
    schedule = schedule_from_config(config)
    common = {"lr": config["lr"], "weight_decay": config.get("weight_decay", 0.0), "schedule": schedule}
    if name == "sgd":
        optimizer: Optimizer = SGD(momentum=config.get("momentum", 0.0), nesterov=config.get("nesterov", False),
                                   **common)
    elif name in ("adam", "adamw"):
        kind = Adam if name == "adam" else AdamW
        optimizer = kind(betas=tuple(config.get("betas", (0.9, 0.999))), eps=config.get("eps", 1e-8), **common)
    else:
        raise ValueError(f"unknown optimizer `{name}`")
    optimizer.steps = config.get("steps", 0)
    optimizer.epoch = config.get("epoch", 0)
    return optimizer


def from_recipe(settings: dict) -> Optimizer:
    """The optimizer a spec's ``train { }`` section describes (defaults: momentum 0.9, lr 0.01)."""
    name = settings.get("optimizer") or ("momentum" if "momentum" in settings or not settings else "sgd")
    kind = settings.get("schedule", "constant")
    if kind == "step":
        schedule: Schedule = Step(settings.get("step_size", 1), settings.get("gamma", 0.1))
    elif kind == "cosine":
        schedule = Cosine()
    else:
        schedule = Schedule()
    decay = settings.get("weight_decay", 0.0)
    if name in ("sgd", "momentum"):
        momentum = settings.get("momentum", 0.9 if name == "momentum" else 0.0)
        return SGD(settings.get("lr", 0.01), momentum, bool(settings.get("nesterov", False)), decay, schedule)
    if name == "adam":
        return Adam(lr=settings.get("lr", 0.001), weight_decay=decay, schedule=schedule)
    return AdamW(lr=settings.get("lr", 0.001), weight_decay=settings.get("weight_decay", 0.01), schedule=schedule)
