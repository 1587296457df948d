"""Bad input raises a clear exception before any kernel runs."""
import numpy as np
import pytest

from fastrnn import SimpleRnnlm
from fastrnn.optimizer import SGD
from fastrnn.time_layers import RNN, Embedding, TimeAffine, TimeEmbedding, TimeRNN, TimeSoftmaxWithLoss
from fastrnn.util import clip_grads
from support import randn, rnn_params


@pytest.fixture
def embed(rng):
    return TimeEmbedding(randn(rng, (10, 3), np.float32))


@pytest.mark.parametrize("bad", [10, 11, 2**40, -1, -(2**40)])
def test_word_id_out_of_range(embed, bad):
    W_before = embed.params[0].copy()
    with pytest.raises(ValueError, match=r"xs holds word id .* outside \[0, 10\)"):
        embed.forward(np.array([[0, bad, 3]]))
    np.testing.assert_array_equal(embed.params[0], W_before)


def test_word_ids_unsigned_and_int32_ok(embed):
    assert embed.forward(np.array([[9]], dtype=np.uint8)).shape == (1, 1, 3)
    assert embed.forward(np.array([[9]], dtype=np.int32)).shape == (1, 1, 3)


@pytest.mark.parametrize("ids,exc,msg", [
    (np.array([[1.0, 2.0]]), TypeError, "integer word ids"),
    (np.array([[True, False]]), TypeError, "integer word ids"),
    ([[1, 2]], TypeError, "numpy array"),
    (np.array([1, 2]), ValueError, r"shape \(\*, \*\)"),
    (np.zeros((1, 2, 3), int), ValueError, r"shape \(\*, \*\)"),
    (np.zeros((0, 2), int), ValueError, "empty"),
])
def test_bad_id_arrays(embed, ids, exc, msg):
    with pytest.raises(exc, match=msg):
        embed.forward(ids)


def test_embedding_step_checks_rank(rng):
    with pytest.raises(ValueError, match=r"idx must have shape \(\*,\)"):
        Embedding(randn(rng, (10, 3), np.float32)).forward(np.array([[1]]))


def test_softmax_label_checks(rng):
    layer = TimeSoftmaxWithLoss()
    xs = randn(rng, (2, 3, 5), np.float32)
    with pytest.raises(ValueError, match=r"ts holds word id 5, outside \[0, 5\) or the ignore label -1"):
        layer.forward(xs, np.array([[0, 1, 2], [3, 4, 5]]))
    with pytest.raises(ValueError, match=r"ts holds word id -2"):
        layer.forward(xs, np.array([[0, 1, 2], [3, 4, -2]]))
    with pytest.raises(ValueError, match=r"ts must have shape \(2, 3\)"):
        layer.forward(xs, np.zeros((3, 2), int))
    with pytest.raises(ValueError, match=r"ts \(one-hot\) must have shape \(2, 3, 5\)"):
        layer.forward(xs, np.zeros((2, 3, 4), int))
    with pytest.raises(TypeError, match="ts must hold integer word ids"):
        layer.forward(xs, np.zeros((2, 3)))
    with pytest.raises(TypeError, match="xs must be a float32 or float64"):
        layer.forward(np.zeros((2, 3, 5), int), np.zeros((2, 3), int))
    with pytest.raises(ValueError, match=r"xs must have shape \(\*, \*, \*\)"):
        layer.forward(np.zeros((2, 5), np.float32), np.zeros((2,), int))


def test_rnn_shape_checks(rng):
    layer = TimeRNN(*rnn_params(rng, 3, 4, np.float32), stateful=True)
    with pytest.raises(ValueError, match=r"xs must have shape \(\*, \*, 3\), got \(2, 5, 4\)"):
        layer.forward(np.zeros((2, 5, 4), np.float32))
    with pytest.raises(ValueError, match=r"xs must have shape \(\*, \*, 3\)"):
        layer.forward(np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="xs must hold real numbers"):
        layer.forward(np.zeros((2, 5, 3), complex))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(np.zeros((2, 5, 4), np.float32))
    layer.forward(np.zeros((2, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"dhs must have shape \(2, 5, 4\)"):
        layer.backward(np.zeros((2, 5, 3), np.float32))


def test_carried_state_batch_mismatch(rng):
    layer = TimeRNN(*rnn_params(rng, 3, 4, np.float32), stateful=True)
    layer.forward(np.zeros((2, 5, 3), np.float32))
    with pytest.raises(ValueError, match="batch size 3 but the carried state h has 2"):
        layer.forward(np.zeros((3, 5, 3), np.float32))
    layer.reset_state()
    assert layer.forward(np.zeros((3, 5, 3), np.float32)).shape == (3, 5, 4)
    with pytest.raises(ValueError, match=r"h must have shape \(\*, 4\)"):
        layer.set_state(np.zeros((3, 5), np.float32))


def test_rnn_step_state_mismatch(rng):
    cell = RNN(*rnn_params(rng, 3, 4, np.float32))
    with pytest.raises(ValueError, match=r"h_prev must have shape \(2, 4\)"):
        cell.forward(np.zeros((2, 3), np.float32), np.zeros((5, 4), np.float32))


def test_constructor_checks(rng):
    Wx, Wh, b = rnn_params(rng, 3, 4, np.float32)
    with pytest.raises(ValueError, match=r"Wh must have shape \(4, 4\)"):
        TimeRNN(Wx, Wh[:3], b)
    with pytest.raises(TypeError, match="must share one dtype"):
        TimeRNN(Wx, Wh.astype(np.float64), b)
    with pytest.raises(TypeError, match="float32 or float64"):
        TimeRNN(Wx.astype(np.int64), Wh, b)
    with pytest.raises(ValueError, match=r"b must have shape \(7,\)"):
        TimeAffine(np.zeros((3, 7), np.float32), np.zeros(3, np.float32))


def test_optimizer_and_clip_checks(rng):
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        SGD(lr=-1)
    with pytest.raises(ValueError, match="max_norm must be a finite number > 0"):
        clip_grads([np.ones(3)], 0)
    with pytest.raises(ValueError, match=r"grads\[0\] has shape \(2,\), params\[0\] has \(3,\)"):
        SGD().update([np.ones(3)], [np.ones(2)])
    with pytest.raises(ValueError, match="same length"):
        SGD().update([np.ones(3)], [])


def test_model_rejects_out_of_vocab_ids():
    np.random.seed(0)
    model = SimpleRnnlm(20, 4, 5)
    with pytest.raises(ValueError, match=r"outside \[0, 20\)"):
        model.forward(np.array([[1, 20]]), np.array([[1, 2]]))
    with pytest.raises(ValueError, match=r"ts holds word id 99"):
        model.forward(np.array([[1, 2]]), np.array([[1, 99]]))


def test_training_helper_checks():
    np.random.seed(0)
    model = SimpleRnnlm(20, 4, 5)
    corpus = np.arange(200) % 20
    from fastrnn.trainer import RnnlmTrainer
    from fastrnn.util import eval_perplexity
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        eval_perplexity(model, corpus, batch_size=0)
    with pytest.raises(TypeError, match="time_size must be an integer >= 1, got 3.5"):
        RnnlmTrainer(model, SGD(0.1)).fit(corpus[:-1], corpus[1:], time_size=3.5)
    with pytest.raises(ValueError, match="too few"):
        RnnlmTrainer(model, SGD(0.1)).fit(corpus[:-1], corpus[1:], batch_size=20, time_size=35)
