"""The reference's per-step design in plain NumPy (float32): one RNN cell and one
Embedding object per time step, each step's embedding gradient a full (V, D)
array summed over the steps, a full softmax array masked by the ignore label.
A benchmark contender only, written from the reference interface's formulas."""
import numpy as np


class RNNCell:
    def __init__(self, Wx, Wh, b):
        self.Wx, self.Wh, self.b = Wx, Wh, b

    def forward(self, x, h_prev):
        self.x, self.h_prev = x, h_prev
        self.h_next = np.tanh(h_prev @ self.Wh + x @ self.Wx + self.b)
        return self.h_next

    def backward(self, dh_next):
        dt = dh_next * (1 - self.h_next ** 2)
        return dt, self.x.T @ dt, self.h_prev.T @ dt, dt.sum(axis=0), dt @ self.Wx.T, dt @ self.Wh.T


class TimeRNN:
    def __init__(self, Wx, Wh, b, stateful=False):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(p) for p in self.params]
        self.stateful, self.h = stateful, None

    def forward(self, xs):
        N, T, _ = xs.shape
        H = self.params[1].shape[0]
        if not self.stateful or self.h is None:
            self.h = np.zeros((N, H), np.float32)
        hs = np.empty((N, T, H), np.float32)
        self.cells = []
        for t in range(T):
            cell = RNNCell(*self.params)
            self.h = cell.forward(xs[:, t], self.h)
            hs[:, t] = self.h
            self.cells.append(cell)
        return hs

    def backward(self, dhs):
        N, T, _ = dhs.shape
        dxs = np.empty((N, T, self.params[0].shape[0]), np.float32)
        sums = [np.zeros_like(p) for p in self.params]
        dh = 0
        for t in reversed(range(T)):
            _, dWx, dWh, db, dx, dh = self.cells[t].backward(dhs[:, t] + dh)
            dxs[:, t] = dx
            for s, g in zip(sums, (dWx, dWh, db)):
                s += g
        for g, s in zip(self.grads, sums):
            g[...] = s
        return dxs


class EmbeddingStep:
    def __init__(self, W):
        self.W, self.dW = W, np.zeros_like(W)

    def forward(self, idx):
        self.idx = idx
        return self.W[idx]

    def backward(self, dout):
        self.dW[...] = 0
        np.add.at(self.dW, self.idx, dout)


class TimeEmbedding:
    def __init__(self, W):
        self.params, self.grads = [W], [np.zeros_like(W)]

    def forward(self, xs):
        N, T = xs.shape
        out = np.empty((N, T, self.params[0].shape[1]), np.float32)
        self.steps = []
        for t in range(T):
            step = EmbeddingStep(self.params[0])
            out[:, t] = step.forward(xs[:, t])
            self.steps.append(step)
        return out

    def backward(self, dout):
        total = 0
        for t, step in enumerate(self.steps):
            step.backward(dout[:, t])
            total += step.dW
        self.grads[0][...] = total


class TimeAffine:
    def __init__(self, W, b):
        self.params, self.grads = [W, b], [np.zeros_like(W), np.zeros_like(b)]

    def forward(self, x):
        N, T, D = x.shape
        self.x = x
        return (x.reshape(N * T, D) @ self.params[0] + self.params[1]).reshape(N, T, -1)

    def backward(self, dout):
        N, T, D = self.x.shape
        d2 = dout.reshape(N * T, -1)
        self.grads[0][...] = self.x.reshape(N * T, D).T @ d2
        self.grads[1][...] = d2.sum(axis=0)
        return (d2 @ self.params[0].T).reshape(N, T, D)


class TimeSoftmaxWithLoss:
    ignore_label = -1

    def forward(self, xs, ts):
        N, T, V = xs.shape
        x = xs.reshape(N * T, V)
        x = np.exp(x - x.max(axis=1, keepdims=True))
        x /= x.sum(axis=1, keepdims=True)
        t = ts.reshape(N * T)
        mask = (t != self.ignore_label)
        ls = np.log(x[np.arange(N * T), t]) * mask
        self.cache = (x, t, mask, xs.shape)
        return float(-ls.sum() / mask.sum())

    def backward(self, dout=1):
        dx, t, mask, shape = self.cache  # the softmax array itself, changed in place
        dx[np.arange(t.size), t] -= 1
        dx *= dout / mask.sum()
        dx *= mask[:, None]
        return dx.reshape(shape)


class SimpleRnnlm:
    def __init__(self, V, D, H, rng):
        f = np.float32
        self.layers = [TimeEmbedding((rng.standard_normal((V, D)) / 100).astype(f)),
                       TimeRNN((rng.standard_normal((D, H)) / np.sqrt(D)).astype(f),
                               (rng.standard_normal((H, H)) / np.sqrt(H)).astype(f), np.zeros(H, f), True),
                       TimeAffine((rng.standard_normal((H, V)) / np.sqrt(H)).astype(f), np.zeros(V, f))]
        self.loss = TimeSoftmaxWithLoss()
        self.params = [p for layer in self.layers for p in layer.params]
        self.grads = [g for layer in self.layers for g in layer.grads]

    def forward(self, xs, ts):
        for layer in self.layers:
            xs = layer.forward(xs)
        return self.loss.forward(xs, ts)

    def backward(self):
        dout = self.loss.backward()
        for layer in reversed(self.layers):
            dout = layer.backward(dout)


def clip_and_sgd(params, grads, max_norm, lr):
    norm = np.sqrt(sum(np.sum(g ** 2) for g in grads))
    rate = max_norm / (norm + 1e-6)
    for p, g in zip(params, grads):
        if rate < 1:
            g *= rate
        p -= lr * g
