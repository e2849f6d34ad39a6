"""Tests for lib.digits: the split, the classifier, the out-of-distribution controls."""

import pytest
import torch

from lib.digits import (
    accuracy,
    digit_cnn,
    letters,
    load_digits,
    nearest_distance,
    quantize,
    render_glyph,
    shuffled_pixels,
    train_classifier,
    uniform_noise,
)


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_split_is_fixed_stratified_and_on_17_levels(digits):
    again = load_digits()
    assert torch.equal(digits.x_test, again.x_test)
    assert digits.x_train.shape[1:] == (1, 8, 8)
    assert len(digits.x_train) + len(digits.x_test) == 1797
    assert set(digits.y_test.tolist()) == set(range(10))
    values = torch.cat([digits.x_train, digits.x_test]) * 16
    assert torch.equal(values, values.round()) and values.min() == 0 and values.max() == 16


def test_bad_test_fraction():
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=1.5)


def test_cnn_learns_the_digits_quickly(digits):
    model = digit_cnn(width=8)
    before = accuracy(model, digits.x_test, digits.y_test)
    losses = train_classifier(model, digits.x_train, digits.y_train, epochs=4, seed=0)
    assert losses[-1] < losses[0]
    after = accuracy(model, digits.x_test, digits.y_test)
    assert after > 0.9 > before
    assert not any(p.requires_grad for p in model.parameters()) and not model.training


def test_training_is_seeded(digits):
    x, y = digits.x_train[:200], digits.y_train[:200]
    a, b = digit_cnn(width=4), digit_cnn(width=4)
    b.load_state_dict(a.state_dict())
    assert train_classifier(a, x, y, epochs=1, seed=3) == train_classifier(
        b, x, y, epochs=1, seed=3
    )


def test_a_seeded_cnn_is_the_same_untrained_control_whatever_ran_before():
    from lib.networks import layer_names, title

    torch.manual_seed(1)
    a = digit_cnn(seed=5)
    torch.rand(10)  # whatever ran in between
    b = digit_cnn(seed=5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    state = torch.random.get_rng_state()
    digit_cnn(seed=5)
    assert torch.equal(state, torch.random.get_rng_state())  # the global generator is untouched
    assert not all(
        torch.equal(p, q) for p, q in zip(a.parameters(), digit_cnn().parameters(), strict=True)
    )
    assert title(a) == "digit CNN" and layer_names(a)[0] == "conv1"


def test_training_rejects_bad_input(digits):
    with pytest.raises(ValueError, match="10 inputs but 5 targets"):
        train_classifier(digit_cnn(), digits.x_train[:10], digits.y_train[:5])
    with pytest.raises(ValueError, match="epochs"):
        train_classifier(digit_cnn(), digits.x_train[:10], digits.y_train[:10], epochs=0)
    with pytest.raises(ValueError, match="empty"):
        train_classifier(digit_cnn(), digits.x_train[:0], digits.y_train[:0])


def test_shuffled_pixels_keep_each_histogram_but_not_the_layout(digits):
    x = digits.x_test[:50]
    s = shuffled_pixels(x, seed=1)
    assert torch.equal(x.flatten(1).sort(1).values, s.flatten(1).sort(1).values)
    assert not torch.equal(x, s)
    assert torch.equal(s, shuffled_pixels(x, seed=1))


def test_noise_and_quantize():
    n = uniform_noise(100, levels=17, seed=0)
    assert n.shape == (100, 1, 8, 8)
    assert torch.equal(n * 16, (n * 16).round()) and len((n * 16).unique()) == 17
    c = uniform_noise(5, levels=None)
    assert c.min() >= 0 and c.max() <= 1
    assert torch.equal(
        quantize(torch.tensor([0.0, 0.04, 0.5, 1.0])), torch.tensor([0, 0.0625, 0.5, 1])
    )
    with pytest.raises(ValueError, match="levels"):
        uniform_noise(3, levels=1)
    with pytest.raises(ValueError, match="positive"):
        uniform_noise(0)


def test_letters_look_like_digits_statistically(digits):
    x = letters("ABCXYZ")
    assert x.shape == (6, 1, 8, 8) and x.min() >= 0 and x.max() <= 1
    assert torch.equal(x * 16, (x * 16).round())
    # ink comparable to the digits' (mean pixel about 0.3), and the letters differ from each other
    assert 0.15 < x.mean().item() < 0.5
    assert not torch.equal(x[0], x[3])
    assert render_glyph("I").sum() < render_glyph("M").sum()
    with pytest.raises(ValueError, match="one character"):
        render_glyph("AB")
    with pytest.raises(ValueError, match="draws nothing"):
        render_glyph(" ")


def test_nearest_distance_is_zero_on_the_reference_and_rms_otherwise(digits):
    reference = digits.x_train[:50]
    assert torch.allclose(nearest_distance(reference[:5], reference), torch.zeros(5), atol=1e-4)
    shifted = (reference[:3] + 0.1).clamp(max=1)
    brute = torch.stack([(s - reference).pow(2).flatten(1).mean(1).min().sqrt() for s in shifted])
    assert torch.allclose(nearest_distance(shifted, reference), brute, atol=1e-5)
    with pytest.raises(ValueError, match="pixels per image"):
        nearest_distance(reference[:, :, :4], reference)


# --- values and messages pinned one by one -------------------------------------------------


def test_the_split_is_scikit_learns_digits_divided_by_16():
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    x = bunch.images.astype("float32") / 16
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, bunch.target, test_size=0.3, random_state=2, stratify=bunch.target
    )
    split = load_digits(test_fraction=0.3, seed=2)
    assert torch.equal(split.x_test[:, 0], torch.from_numpy(x_te))
    assert torch.equal(split.x_train[:, 0], torch.from_numpy(x_tr))
    assert split.y_test.tolist() == y_te.tolist() and split.y_train.dtype == torch.int64
    default = load_digits()
    assert len(default.x_test) == 450  # a quarter of 1797, rounded up by scikit-learn
    assert split.x_test.is_contiguous()
    assert repr(default) == "Digits(train=1347, test=450, shape=1×8×8, levels=17)"
    for bad in (0, 1):
        with pytest.raises(
            ValueError, match=f"^test_fraction must be between 0 and 1 .*got {bad}.$"
        ):
            load_digits(test_fraction=bad)


def test_the_cnns_layers_and_sizes():
    from lib.networks import describe

    model = digit_cnn()
    assert list(dict(model.named_children())) == [
        "conv1",
        "relu1",
        "conv2",
        "relu2",
        "pool2",
        "conv3",
        "relu3",
        "pool3",
        "flatten",
        "logits",
    ]
    assert (model.conv1.in_channels, model.conv1.out_channels) == (1, 16)
    assert (model.conv2.out_channels, model.conv3.out_channels) == (32, 64)
    assert model.conv1.padding == (1, 1) and model.conv3.kernel_size == (3, 3)
    assert (model.logits.in_features, model.logits.out_features) == (256, 10)
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 10)
    small = digit_cnn(width=2, num_classes=3)
    assert small.logits.in_features == 32 and small.logits.out_features == 3
    assert describe(model).title == "digit CNN"
    assert sum(p.numel() for p in model.parameters()) == 160 + 4640 + 18496 + 2570
    with pytest.raises(ValueError, match="^width must be a positive number of channels; got 0.$"):
        digit_cnn(width=0)
    state = torch.get_rng_state()
    a, b = digit_cnn(seed=3), digit_cnn(seed=3)
    assert torch.equal(a.conv1.weight, b.conv1.weight)
    assert torch.equal(torch.get_rng_state(), state)


def test_probabilities_come_in_batches_and_accuracy_counts_the_argmax():
    from lib.digits import predict_proba

    model = digit_cnn(seed=0).eval()
    x = uniform_noise(5, seed=1)
    probs = predict_proba(model, x, batch_size=2)
    torch.testing.assert_close(probs, model(x).softmax(1))
    torch.testing.assert_close(predict_proba(model, x), probs)
    labels = probs.argmax(1)
    assert accuracy(model, x, labels) == 1.0
    wrong = labels.clone()
    wrong[:2] = (wrong[:2] + 1) % 10
    assert accuracy(model, x, wrong) == pytest.approx(0.6)
    with pytest.raises(ValueError, match=r"^x must be a batch of shape"):
        predict_proba(model, x[0])


def test_shuffled_pixels_by_hand():
    x = torch.arange(8.0).reshape(2, 1, 2, 2) / 8
    keys = torch.rand(2, 4, generator=torch.Generator().manual_seed(3))
    expected = x.reshape(2, 4).gather(1, keys.argsort(1)).reshape(2, 1, 2, 2)
    assert torch.equal(shuffled_pixels(x, seed=3), expected)
    assert torch.equal(shuffled_pixels(x), shuffled_pixels(x, seed=0))
    with pytest.raises(ValueError, match=r"^x must be a batch"):
        shuffled_pixels(x[0])


def test_quantize_and_noise_by_hand():
    x = torch.tensor([-0.2, 0.26, 0.5, 1.3])
    torch.testing.assert_close(quantize(x, 5), torch.tensor([0.0, 0.25, 0.5, 1.0]))
    torch.testing.assert_close(quantize(x, 2), torch.tensor([0.0, 0.0, 0.0, 1.0]))
    torch.testing.assert_close(quantize(torch.tensor([1 / 32 + 1e-3])), torch.tensor([1 / 16]))
    with pytest.raises(ValueError, match="^levels must be at least 2; got 1.$"):
        quantize(x, 1)
    g = torch.Generator().manual_seed(4)
    expected = torch.randint(0, 5, (3, 1, 8, 8), generator=g).float() / 4
    assert torch.equal(uniform_noise(3, levels=5, seed=4), expected)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(uniform_noise(2, None), torch.rand(2, 1, 8, 8, generator=g))
    g = torch.Generator().manual_seed(0)
    assert torch.equal(uniform_noise(2), torch.randint(0, 17, (2, 1, 8, 8), generator=g) / 16)
    uniform_noise(1, levels=2)
    with pytest.raises(ValueError, match=r"^levels must be at least 2 \(or None .*got 1.$"):
        uniform_noise(3, levels=1)
    with pytest.raises(ValueError, match="^n must be a positive number of images; got 0.$"):
        uniform_noise(0)


def test_a_glyph_is_a_centred_32_pixel_bitmap_counted_in_4_by_4_blocks():
    # "I" of the default font: a vertical bar, scaled to fill 32 rows, centred across
    bar = render_glyph("I")
    assert bar.shape == (1, 8, 8) and torch.equal(bar * 16, (bar * 16).round())
    rows = (bar[0] > 0).any(1)
    assert rows.all()  # fills the height
    columns = (bar[0] > 0).any(0).nonzero().flatten().tolist()
    assert columns and abs((columns[0] + columns[-1]) / 2 - 3.5) <= 1  # centred
    # a plain vertical bar: every row of blocks counts the same pixels, a whole number of
    # columns of 4 pixels each
    assert torch.equal(bar[0], bar[0, :1].expand(8, 8))
    width = bar[0, 0].sum().item() * 16 / 4
    assert width == round(width) and 2 <= width <= 8
    thick = render_glyph("I", stroke=4)
    assert thick.sum() > bar.sum()
    with pytest.raises(ValueError, match="^render_glyph draws one character; got 'AB'.$"):
        render_glyph("AB")
    with pytest.raises(
        ValueError, match="^The character ' ' draws nothing with the default font.$"
    ):
        render_glyph(" ")


def test_letters_are_quantised_glyphs_of_the_alphabet_by_default():
    assert torch.equal(letters("AB"), quantize(torch.stack([render_glyph("A"), render_glyph("B")])))
    every = letters()
    assert every.shape == (26, 1, 8, 8)
    assert torch.equal(every[25], letters("Z")[0])
    with pytest.raises(ValueError, match="^letters needs at least one character.$"):
        letters("")


def test_nearest_distance_by_hand():
    reference = torch.zeros(2, 1, 2, 2)
    reference[1] = 1.0
    x = torch.full((2, 1, 2, 2), 0.25)
    x[1, 0, 0, 0] = 1.0  # to the zeros: 1 + 3 · 0.0625 (to the ones: 3 · 0.5625, farther)
    out = nearest_distance(x, reference)
    torch.testing.assert_close(out, torch.tensor([0.25, (1.1875 / 4) ** 0.5]))
    assert out.dtype == torch.float32
    with pytest.raises(ValueError, match=r"^x has 2 pixels per image, reference 4.$"):
        nearest_distance(x[..., :1], reference)
    with pytest.raises(ValueError, match=r"^reference must be a batch"):
        nearest_distance(x, reference[0])


def test_continuous_noise_follows_its_seed_and_distances_name_x():
    torch.manual_seed(5)  # the global generator elsewhere: the noise must not read it
    g = torch.Generator().manual_seed(6)
    assert torch.equal(uniform_noise(2, None, seed=6), torch.rand(2, 1, 8, 8, generator=g))
    with pytest.raises(ValueError, match=r"^x must be a batch of shape"):
        nearest_distance(torch.rand(8, 8), torch.rand(2, 1, 8, 8))


def test_train_classifier_defaults_and_what_it_passes_on(monkeypatch):
    import lib.digits as digits_module

    seen = []

    def fake(model, x, y, loss, epochs, lr, **kw):
        seen.append({"loss": loss, "epochs": epochs, "lr": lr, **kw})
        return [0.0]

    monkeypatch.setattr(digits_module, "train", fake)
    x, y = torch.rand(4, 1, 8, 8), torch.zeros(4, dtype=torch.long)
    train_classifier(digit_cnn(), x, y)
    assert seen[0] == {
        "loss": torch.nn.functional.cross_entropy, "epochs": 30, "lr": 3e-3, "batch_size": 64,
        "weight_decay": 1e-4, "seed": 0, "objective": None,
    }  # fmt: skip

    def objective(m, a, b):
        return m(a).sum()

    train_classifier(digit_cnn(), x, y, 2, 0.1, 8, 0.5, 3, objective)
    assert seen[1] == {
        "loss": None, "epochs": 2, "lr": 0.1, "batch_size": 8, "weight_decay": 0.5, "seed": 3,
        "objective": objective,
    }  # fmt: skip
    with pytest.raises(ValueError, match=r"^x must be a batch of shape"):
        train_classifier(digit_cnn(), x[0], y)


def test_the_default_split_is_seed_0_in_float32_and_seeded_cnns_keep_their_sizes():
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    _, x_te, _, _ = train_test_split(
        bunch.images / 16, bunch.target, test_size=0.25, random_state=0, stratify=bunch.target
    )
    split = load_digits()
    assert split.x_test.dtype == torch.float32
    assert torch.equal(split.x_test[:, 0], torch.from_numpy(x_te).float())
    assert digit_cnn(width=1).conv1.out_channels == 1
    seeded = digit_cnn(width=2, num_classes=3, seed=1)
    assert seeded.conv1.out_channels == 2 and seeded.logits.out_features == 3


def test_glyphs_are_centred_both_ways_in_float32():
    bar = render_glyph("I")
    assert bar.dtype == torch.float32
    columns = (bar[0] > 0).any(0).nonzero().flatten().tolist()
    assert abs((columns[0] + columns[-1]) / 2 - 3.5) <= 0.5  # a narrow bar, centred across
    dash = render_glyph("-")  # a wide glyph: it fills the width and sits in the middle rows
    assert (dash[0] > 0).any(0).all()
    rows = (dash[0] > 0).any(1).nonzero().flatten().tolist()
    assert abs((rows[0] + rows[-1]) / 2 - 3.5) <= 0.5
