"""The answer scorer's linear head: a deterministic softmax regression over sentence vectors."""
import numpy as np

from bot.encoder.head import train_linear_head


def _clusters(seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 16))
    x = np.concatenate([c + 0.3 * rng.normal(size=(20, 16)) for c in centres]).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = np.array(["kb_a"] * 20 + ["kb_b"] * 20 + ["out_of_scope"] * 20, dtype=object)
    return x, labels


def test_it_separates_intents_it_was_trained_on():
    x, labels = _clusters()
    names = ["kb_a", "kb_b", "out_of_scope"]
    w, b = train_linear_head(x, labels, names)
    predicted = np.array(names, dtype=object)[(x @ w + b).argmax(axis=1)]
    assert (predicted == labels).mean() == 1.0
    assert w.shape == (16, 3) and b.shape == (3,) and w.dtype == np.float32


def test_the_same_data_gives_the_same_weights():
    x, labels = _clusters()
    names = ["kb_a", "kb_b", "out_of_scope"]
    first, second = train_linear_head(x, labels, names), train_linear_head(x, labels, names)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])
