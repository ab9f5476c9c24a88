"""From notebook to product: quantisation maths, exact round trips, exports equal to the model.

References: PyTorch's ``fake_quantize_per_tensor_affine`` / ``_per_channel_affine`` for the
scratch quantiser, float64 products for the int8 matmul, ``torch.nn.utils.prune`` for the
scratch magnitude pruning, PyTorch itself for the ONNX graph run by onnxruntime, Keras
itself for the SavedModel and TensorFlow Lite.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dltutor import data, scratch
from dltutor.scratch import quantize as q

# --- quantisation from scratch -----------------------------------------------------------


@settings(max_examples=40)
@given(
    seed=st.integers(0, 2**16),
    bits=st.integers(2, 8),
    symmetric=st.booleans(),
    per_channel=st.booleans(),
    shift=st.floats(-3, 3),
)
def test_rounding_error_is_at_most_half_a_scale(seed, bits, symmetric, per_channel, shift):
    x = np.random.default_rng(seed).standard_normal((6, 5)) + shift
    x_hat, scale = q.fake_quantize(x, bits, symmetric, axis=0 if per_channel else None)
    # inside the range nothing is clipped: |x - x_hat| <= s/2 (plus float rounding)
    assert np.all(np.abs(x - x_hat) <= scale / 2 * (1 + 1e-12))


def test_zero_is_exact_and_the_codes_span_the_range(rng) -> None:
    x = rng.uniform(-1.0, 3.0, size=(50,))
    scale, zero_point = q.quant_params(x, bits=8)
    codes = q.quantize(x, scale, zero_point)
    assert codes.dtype == np.int8 and codes.min() == -128 and codes.max() == 127
    assert q.dequantize(q.quantize(0.0, scale, zero_point), scale, zero_point) == 0.0
    sym_scale, sym_zero = q.quant_params(x, bits=8, symmetric=True)
    sym_codes = q.quantize(x, sym_scale, sym_zero, symmetric=True)
    assert sym_zero == 0 and sym_codes.min() >= -127 and sym_codes.max() == 127
    assert np.isclose(sym_scale, np.abs(x).max() / 127)


def test_fake_quantize_matches_pytorch(rng) -> None:
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((8, 5)) * np.array([0.1, 1, 3, 0.5, 2])
    for symmetric in (False, True):
        qmin, qmax = q.code_range(8, symmetric)
        scale, zero_point = q.quant_params(x, symmetric=symmetric)
        ours, _ = q.fake_quantize(x, symmetric=symmetric)
        theirs = torch.fake_quantize_per_tensor_affine(
            torch.tensor(x, dtype=torch.float32), float(scale), int(zero_point), qmin, qmax
        )
        np.testing.assert_allclose(ours, theirs.double().numpy(), rtol=1e-6, atol=1e-7)
        scales, zeros = q.quant_params(x, symmetric=symmetric, axis=1)
        ours, _ = q.fake_quantize(x, symmetric=symmetric, axis=1)
        theirs = torch.fake_quantize_per_channel_affine(
            torch.tensor(x, dtype=torch.float32),
            torch.tensor(scales.ravel(), dtype=torch.float32),
            torch.tensor(zeros.ravel(), dtype=torch.int32),
            1,
            qmin,
            qmax,
        )
        np.testing.assert_allclose(ours, theirs.double().numpy(), rtol=1e-6, atol=1e-7)


def test_per_channel_scales_are_never_coarser(rng) -> None:
    w = rng.standard_normal((16, 4)) * np.array([0.01, 0.1, 1.0, 10.0])  # columns differ
    tensor_scale, _ = q.quant_params(w, symmetric=True)
    channel_scale, _ = q.quant_params(w, symmetric=True, axis=1)
    assert channel_scale.shape == (1, 4) and np.all(channel_scale <= tensor_scale)
    error_tensor = np.abs(w - q.fake_quantize(w, symmetric=True)[0]).max(axis=0)
    error_channel = np.abs(w - q.fake_quantize(w, symmetric=True, axis=1)[0]).max(axis=0)
    assert error_channel[0] < error_tensor[0] / 100  # the small column kept its digits


def test_int8_matmul_is_the_dequantised_product_and_within_the_bound(rng) -> None:
    a = rng.uniform(-0.5, 2.0, size=(7, 300))
    w = rng.standard_normal((300, 5)) * np.array([0.01, 0.1, 1, 2, 5])
    a_scale, a_zero = q.quant_params(a)
    w_scale, _ = q.quant_params(w, symmetric=True, axis=1)
    a_codes = q.quantize(a, a_scale, a_zero)
    w_codes = q.quantize(w, w_scale, 0, symmetric=True)
    product = q.int8_matmul(a_codes, float(a_scale), int(a_zero), w_codes, w_scale)
    a_hat, w_hat = q.dequantize(a_codes, a_scale, a_zero), q.dequantize(w_codes, w_scale, 0)
    np.testing.assert_allclose(product, a_hat @ w_hat, rtol=1e-12, atol=1e-12)
    bound = q.matmul_error_bound(a_hat, w, float(a_scale), w_scale)
    assert np.all(np.abs(a @ w - product) <= bound)


def test_magnitude_mask_cuts_the_smallest(rng) -> None:
    w = rng.standard_normal((10, 10))
    mask = q.magnitude_mask(w, 0.3)
    assert mask.sum() == 70
    assert np.abs(w[~mask]).max() <= np.abs(w[mask]).min()
    assert q.magnitude_mask(w, 0.0).all()


def test_npz_round_trip_is_exact_and_the_wrong_model_is_refused(tmp_path) -> None:
    model = scratch.CNN(1, 8, 10, rng=np.random.default_rng(0))
    path = q.save_weights(model, tmp_path / "cnn.npz")
    copy = scratch.CNN(1, 8, 10, rng=np.random.default_rng(1))
    q.load_weights(copy, path)
    for ours, theirs in zip(model.get_weights(), copy.get_weights(), strict=True):
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)
    with pytest.raises(ValueError, match="does not fit CNN: .*other shapes"):
        q.load_weights(scratch.CNN(1, 8, 10, channels=(8, 16), rng=np.random.default_rng(0)), path)
    with pytest.raises(FileNotFoundError, match="save_weights"):
        q.load_weights(model, tmp_path / "missing.npz")


def test_bad_input_raises_clear_errors() -> None:
    with pytest.raises(ValueError, match="bits must be between 2 and 16, got 1"):
        q.quant_params(np.ones(3), bits=1)
    with pytest.raises(ValueError, match="scale must be positive"):
        q.quantize(np.ones(3), 0.0, 0)
    with pytest.raises(TypeError, match="integer codes"):
        q.dequantize(np.ones(3), 1.0, 0)
    with pytest.raises(ValueError, match="axis must be None or in"):
        q.quant_params(np.ones((2, 3)), axis=2)
    with pytest.raises(TypeError, match="a_codes must be a 2-D int8 array"):
        q.int8_matmul(np.ones((2, 3)), 1.0, 0, np.ones((3, 2), np.int8), np.ones(2))
    with pytest.raises(ValueError, match="must share K"):
        q.int8_matmul(np.ones((2, 3), np.int8), 1.0, 0, np.ones((4, 2), np.int8), np.ones(2))
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\)"):
        q.magnitude_mask(np.ones(4), 1.0)
    a, w = np.ones((2, 3), np.int8), np.ones((3, 2), np.int8)
    with pytest.raises(ValueError, match=r"w_scale must hold 2 positive scales.*got .*\(3,\)"):
        q.int8_matmul(a, 1.0, 0, w, np.ones(3))
    with pytest.raises(ValueError, match=r"w_scale must hold 2 positive scales.*\(1,\)"):
        q.int8_matmul(a, 1.0, 0, w, np.ones(1))
    with pytest.raises(ValueError, match="a_scale must be positive, got -1.0"):
        q.int8_matmul(a, -1.0, 0, w, np.ones(2))
    with pytest.raises(ValueError, match=r"zero_point must be a code in \[-128, 127\], got .*500"):
        q.quantize(np.ones(3), 1.0, 500)
    with pytest.raises(TypeError, match="zero_point must hold integers"):
        q.dequantize(np.ones(3, np.int8), 1.0, 0.5)
    with pytest.raises(TypeError, match="sparsity must be a number"):
        q.magnitude_mask(np.ones(4), "0.5")


# --- PyTorch: files, ONNX, int8, pruning, distillation -------------------------------------


@pytest.fixture(scope="module")
def digits():
    return data.load_digits(seed=0, flatten=False)


@pytest.fixture(scope="module")
def cnn():
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch

    torch.manual_seed(0)
    return dtorch.CNN(1, 8, 10, channels=(8, 16), hidden_units=32).eval()


@pytest.fixture(scope="module")
def onnx_file(cnn, digits, tmp_path_factory):
    pytest.importorskip("onnxruntime")
    from dltutor.torch import deploy

    path = tmp_path_factory.mktemp("onnx") / "cnn.onnx"
    return deploy.export_onnx(cnn, digits.x_train[:4, None], path)


def test_runtimes_are_not_imported_by_the_package() -> None:
    code = (
        "import sys, dltutor, dltutor.torch, dltutor.scratch.quantize, dltutor.torch.deploy, "
        "dltutor.serve\n"
        "print(sorted(m for m in ('onnx', 'onnxruntime', 'onnxscript', 'safetensors') "
        "if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    light = "import sys, dltutor.serve, dltutor.scratch.quantize; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", light], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr  # serving needs no framework


def test_a_missing_runtime_names_the_extra() -> None:
    pytest.importorskip("torch")
    from dltutor.torch import deploy

    with pytest.raises(ImportError, match=r'pip install "dltutor\[deploy\]"'):
        deploy.require("a_runtime_that_is_not_installed")


@pytest.mark.parametrize("kind", ["state", "safetensors"])
def test_torch_round_trips_are_exact(kind, cnn, tmp_path) -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch
    from dltutor.torch import deploy

    save, load = {
        "state": (deploy.save_state, deploy.load_state),
        "safetensors": (deploy.save_safetensors, deploy.load_safetensors),
    }[kind]
    path = save(cnn, tmp_path / "weights")
    torch.manual_seed(1)
    copy = load(dtorch.CNN(1, 8, 10, channels=(8, 16), hidden_units=32), path)
    pairs = zip(cnn.state_dict().items(), copy.state_dict().values(), strict=True)
    for (name, ours), theirs in pairs:
        assert ours.dtype == theirs.dtype and torch.equal(ours, theirs), name
    with pytest.raises(ValueError, match=r"does not fit CNN: .*other shapes \['0.bias"):
        load(dtorch.CNN(1, 8, 10, channels=(4, 16), hidden_units=32), path)
    with pytest.raises(ValueError, match=r"does not fit MLP: missing \['layers"):
        load(dtorch.MLP([64, 10]), path)
    with pytest.raises(FileNotFoundError, match="no weights file"):
        load(cnn, tmp_path / "missing")


def test_onnx_equals_pytorch_at_any_batch_size(cnn, digits, onnx_file) -> None:
    import dltutor.torch as dtorch
    from dltutor.torch import deploy

    session = deploy.onnx_session(onnx_file)
    batch = session.get_inputs()[0].shape[0]
    assert isinstance(batch, str)  # a symbol (dynamic), not the example's 4
    for size in (1, 37, len(digits.x_test)):
        x = digits.x_test[:size, None].astype(np.float32)  # held-out digits
        theirs = dtorch.predict(cnn, x)
        ours = session.run(None, {"x": x})[0]
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_export_refuses_a_single_example(cnn) -> None:
    from dltutor.torch import deploy

    with pytest.raises(ValueError, match="at least 2 inputs"):
        deploy.export_onnx(cnn, np.zeros((1, 1, 8, 8)), "unused.onnx")


def test_a_model_that_does_not_export_gets_a_clear_error(tmp_path) -> None:
    pytest.importorskip("torch")
    from torch import nn

    from dltutor.torch import deploy

    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(4, 2)

        def forward(self, x):
            if x.sum() > 0:  # a branch on the data's values: not traceable
                return self.linear(x)
            return -self.linear(x)

    with pytest.raises(ValueError, match="could not export Branchy: .*torch.cond"):
        deploy.export_onnx(Branchy(), np.ones((3, 4)), tmp_path / "branchy.onnx")


def test_a_model_that_branches_on_the_batch_size_is_refused(tmp_path) -> None:
    pytest.importorskip("torch")
    from torch import nn

    from dltutor.torch import deploy

    class BatchDependent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(4, 2)

        def forward(self, x):
            # the ONNX exporter alone would keep the example's branch, silently
            return self.linear(x) if x.shape[0] > 4 else -self.linear(x)

    with pytest.raises(ValueError, match="BatchDependent: .*depends on the batch size"):
        deploy.export_onnx(BatchDependent(), np.ones((2, 4)), tmp_path / "b.onnx")


def test_the_export_check_catches_a_file_that_disagrees(cnn, digits, onnx_file) -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch
    from dltutor.torch import deploy

    torch.manual_seed(5)
    other = dtorch.CNN(1, 8, 10, channels=(8, 16), hidden_units=32).eval()
    example = digits.x_train[:4, None].astype(np.float32)
    deploy._check_export(cnn, example, onnx_file)  # the model it came from: agrees
    with pytest.raises(ValueError, match="disagrees with the model at batch 1"):
        deploy._check_export(other, example, onnx_file)


def test_torch_deploy_bad_inputs(cnn, tmp_path) -> None:
    torch = pytest.importorskip("torch")
    from dltutor.torch import deploy

    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got str"):
        deploy.export_onnx("abc", np.ones((2, 4)), tmp_path / "x.onnx")
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got str"):
        deploy.save_state("abc", tmp_path / "x.pt")
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\), got 1.0"):
        deploy.prune_magnitude(cnn, 1.0)
    with pytest.raises(TypeError, match="temperature must be a real number, got str"):
        deploy.DistillationLoss("4")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        deploy.DistillationLoss(0.0)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a graph")
    with pytest.raises(ValueError, match="garbage.onnx is not an ONNX graph"):
        deploy.onnx_session(garbage)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="corrupt.pt is not a state_dict file"):
        deploy.load_state(cnn, corrupt)
    assert torch.get_num_threads() >= 1


def test_time_ratio_times_both_alternately_on_one_thread() -> None:
    torch = pytest.importorskip("torch")
    import time

    from dltutor import serve

    threads, seen = torch.get_num_threads(), []

    def slow() -> None:
        seen.append(torch.get_num_threads())
        time.sleep(0.02)

    # sleeps of 20 ms and 5 ms, each overshot by the same scheduler delay (about a
    # millisecond when loaded): the ratio lies below 4 and well above 1
    ratio = serve.time_ratio(slow, lambda: time.sleep(0.005), 15)
    assert 1.5 < ratio < 4.5
    assert set(seen) == {1} and torch.get_num_threads() == threads  # restored
    assert len(serve.timings(slow, 3)) == 3
    with pytest.raises(ValueError, match="repeats"):
        serve.time_ratio(slow, slow, 0)


def test_the_predictor_checks_and_batches(cnn, digits, onnx_file, tmp_path) -> None:
    import dltutor.torch as dtorch
    from dltutor import serve

    predictor = serve.Predictor(onnx_file, value_range=(0.0, 1.0), batch_size=50)
    x = digits.x_test[:, None]  # float64 is accepted and cast
    np.testing.assert_allclose(
        predictor(x), dtorch.predict(cnn, x.astype(np.float32)), rtol=1e-5, atol=1e-5
    )
    with pytest.raises(ValueError, match=r"shape \(N, 1, 8, 8\), got \(3, 8, 8\)"):
        predictor(digits.x_test[:3])
    with pytest.raises(TypeError, match="real numbers"):
        predictor(np.array([["a"]]))
    with pytest.raises(ValueError, match=r"must lie in \[0.0, 1.0\]"):
        predictor(x[:2] * 16)
    with pytest.raises(ValueError, match="finite"):
        predictor(np.full((1, 1, 8, 8), np.nan))
    assert predictor(x[:0]).shape == (0, 10)  # an empty batch: no rows of 10 logits
    with pytest.raises(ValueError, match=r"value_range must be \(low, high\)"):
        serve.Predictor(onnx_file, value_range=(0.0, 0.5, 1.0))
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a graph")
    with pytest.raises(ValueError, match="not an ONNX graph"):
        serve.Predictor(garbage)
    np.save(tmp_path / "in.npy", x[:5])
    serve.main([str(onnx_file), str(tmp_path / "in.npy"), "--output", str(tmp_path / "o.npy")])
    np.testing.assert_allclose(np.load(tmp_path / "o.npy"), predictor(x[:5]))


def test_onnx_int8_is_smaller_and_close(cnn, digits, onnx_file, tmp_path) -> None:
    from dltutor.torch import deploy

    static = deploy.quantize_onnx_static(onnx_file, tmp_path / "s.onnx", digits.x_train[:256, None])
    dynamic = deploy.quantize_onnx_dynamic(onnx_file, tmp_path / "d.onnx")
    x = digits.x_test[:, None].astype(np.float32)
    reference = deploy.onnx_session(onnx_file).run(None, {"x": x})[0]
    for path in (static, dynamic):
        # 4 bytes -> 1 a weight; the graph and the scales are a fixed cost at this size
        assert path.stat().st_size < 0.7 * onnx_file.stat().st_size
        out = deploy.onnx_session(path).run(None, {"x": x})[0]
        # int8 rounding through four layers: a guard, not a derived bound (the codes are
        # checked exactly against the scratch quantiser below, and one layer's error
        # against its bound in test_dynamic_int8_linear_is_within_the_rounding_bound)
        assert 0 < np.abs(out - reference).max() < 0.05 * np.ptp(reference)


def test_onnx_static_int8_codes_are_the_scratch_quantisers(cnn, digits, onnx_file, tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    from dltutor.torch import deploy

    path = deploy.quantize_onnx_static(onnx_file, tmp_path / "s.onnx", digits.x_train[:64, None])
    stored = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
    checked = 0
    for name, weight in cnn.state_dict().items():
        if name.endswith("weight"):
            weight = weight.double().numpy()
            scale, zero = q.quant_params(weight, symmetric=True, axis=0)
            codes = q.quantize(weight, scale, zero, symmetric=True)
            np.testing.assert_array_equal(codes, stored[f"{name}_quantized"])
            np.testing.assert_allclose(scale.ravel(), stored[f"{name}_scale"], rtol=1e-6)
            checked += 1
    assert checked == 4  # two convolutions, two linear layers


def test_dynamic_int8_linear_is_within_the_rounding_bound(rng) -> None:
    torch = pytest.importorskip("torch")
    from dltutor.torch import deploy

    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 10)
    quantized = deploy.quantize_dynamic_int8(torch.nn.Sequential(linear))
    x = rng.uniform(0, 1, size=(20, 64)).astype(np.float32)
    with torch.no_grad():
        reference = linear(torch.as_tensor(x)).double().numpy()
        out = quantized(torch.as_tensor(x)).double().numpy()
    # The bound of scratch.quantize.matmul_error_bound: weights per tensor, symmetric,
    # s_w = max|w| / 127.5 (PyTorch's); activations over the batch's range, at most
    # s_a = range / 127 (fbgemm's coarser, reduced-range grid); |A_hat| <= |A| + s_a / 2.
    # Plus float32 rounding of 64-term sums, far below 1e-5.
    w = linear.weight.detach().double().numpy().T  # (K, M)
    a_scale = float(x.max() - min(x.min(), 0.0)) / 127
    w_scale = np.full(10, np.abs(w).max() / 127.5)
    bound = q.matmul_error_bound(np.abs(x) + a_scale / 2, w, a_scale, w_scale)
    assert np.all(np.abs(out - reference) <= bound + 1e-5)
    assert np.abs(out - reference).max() > 0  # int8, not a float copy


def test_dynamic_int8_swaps_the_linear_layers(rng) -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch
    from dltutor.torch import deploy

    torch.manual_seed(0)
    mlp = dtorch.MLP([64, 32, 10])
    quantized = deploy.quantize_dynamic_int8(mlp)
    assert type(quantized.get_submodule("layers.0")).__module__.startswith(
        "torch.ao.nn.quantized.dynamic"
    )
    x = rng.uniform(0, 1, size=(20, 64)).astype(np.float32)
    with torch.no_grad():
        assert quantized(torch.as_tensor(x)).shape == dtorch.predict(mlp, x).shape


def test_scratch_pruning_equals_pytorch(cnn) -> None:
    torch = pytest.importorskip("torch")
    from dltutor.torch import deploy

    for sparsity in (0.0, 0.5, 0.9):
        ours = deploy.prune_magnitude_scratch(cnn, sparsity)
        theirs = deploy.prune_magnitude(cnn, sparsity)
        assert abs(deploy.sparsity_of(theirs) - sparsity) < 1e-3
        theirs_state = theirs.state_dict()
        for name, value in ours.state_dict().items():
            assert torch.equal(value, theirs_state[name]), name


def test_distillation_loss_by_hand(rng) -> None:
    torch = pytest.importorskip("torch")
    from scipy.special import log_softmax

    from dltutor.torch import deploy

    student, teacher = rng.standard_normal((6, 4)), 3 * rng.standard_normal((6, 4))
    labels = rng.integers(0, 4, size=6)
    temperature, alpha = 3.0, 0.7
    log_p = log_softmax(teacher / temperature, axis=1)
    log_q = log_softmax(student / temperature, axis=1)
    kl = np.sum(np.exp(log_p) * (log_p - log_q), axis=1).mean()
    ce = -log_softmax(student, axis=1)[np.arange(6), labels].mean()
    expected = alpha * temperature**2 * kl + (1 - alpha) * ce
    targets = deploy.distillation_targets(labels, teacher).astype(np.float64)
    targets[:, 1:] = teacher  # float64 all through for the comparison
    loss = deploy.DistillationLoss(temperature, alpha)(torch.tensor(student), torch.tensor(targets))
    np.testing.assert_allclose(float(loss), expected, rtol=1e-10)
    with pytest.raises(ValueError, match=r"targets must be \(N, 1 \+ K\)"):
        deploy.DistillationLoss()(torch.tensor(student), torch.tensor(targets[:, :3]))
    with pytest.raises(ValueError, match="labels must be"):
        deploy.distillation_targets(labels[:3], teacher)


# --- Keras: .keras, SavedModel, TensorFlow Lite -------------------------------------------


@pytest.mark.keras
def test_keras_files_and_exports(digits, tmp_path) -> None:
    pytest.importorskip("tensorflow")
    import dltutor.keras as dkeras
    from dltutor.keras import deploy

    dkeras.set_seed(0)
    model = dkeras.CNN(1, 8, 10, channels=(8, 16), hidden_units=32)
    x = digits.x_test[:, :, :, None].astype(np.float32)  # held-out, channels last
    reference = model.predict_on_batch(x)
    loaded = deploy.load_keras(deploy.save_keras(model, tmp_path / "cnn.keras"))
    for ours, theirs in zip(model.get_weights(), loaded.get_weights(), strict=True):
        assert np.array_equal(ours, theirs)
    assert np.array_equal(loaded.predict_on_batch(x), reference)
    other = dkeras.CNN(1, 8, 10, channels=(8, 16), hidden_units=32)
    deploy.load_weights_into(other, tmp_path / "cnn.keras")
    assert np.array_equal(other.predict_on_batch(x), reference)
    with pytest.raises(ValueError, match="does not fit CNN"):
        deploy.load_weights_into(dkeras.CNN(1, 8, 10), tmp_path / "cnn.keras")
    with pytest.raises(ValueError, match=r"must end in \.keras"):
        deploy.save_keras(model, tmp_path / "cnn.h5")
    serve = deploy.load_saved_model(deploy.export_saved_model(model, tmp_path / "saved"))
    run = deploy.tflite_runner(deploy.to_tflite(model))
    # float32, the same operations: 1e-5 leaves ten times the measured gaps (~1e-6)
    for size in (1, 7, len(x)):  # a dynamic batch in both files
        np.testing.assert_allclose(serve(x[:size]), reference[:size], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(run(x[:size]), reference[:size], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="not a TensorFlow Lite model"):
        deploy.tflite_runner(b"garbage")
    with pytest.raises(TypeError, match="flat_buffer must be bytes"):
        deploy.tflite_runner("garbage")
    with pytest.raises(ValueError, match=r"shape \(N, 8, 8, 1\)"):
        deploy.tflite_predict(deploy.to_tflite(model), x[:, :, :4])
    with pytest.raises(ValueError, match="needs calibration"):
        deploy.to_tflite(model, "int8")


def test_dynamic_int8_lstm_is_close_to_float(rng) -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch
    from dltutor.torch import deploy

    torch.manual_seed(0)
    model = dtorch.RecurrentNet("lstm", 3, 16, 2).eval()
    quantized = deploy.quantize_dynamic_int8(model)
    kinds = {type(m).__module__ for m in quantized.modules()}
    assert "torch.ao.nn.quantized.dynamic.modules.rnn" in kinds  # the LSTM was swapped
    x = rng.standard_normal((8, 12, 3)).astype(np.float32)  # (N, T, features)
    reference = dtorch.predict(model, x)
    with torch.no_grad():
        out = quantized(torch.as_tensor(x)).numpy()
    # an int8 step of the largest weight is max|w| / 127; the outputs stay within a few
    step = max(float(p.detach().abs().max()) for p in model.parameters()) / 127
    assert np.abs(out - reference).max() < 3 * step  # measured 0.33 steps


def test_quantization_aware_training_at_16_bits_is_plain_training(rng) -> None:
    x, y = rng.standard_normal((40, 5)), rng.integers(0, 3, size=40)
    plain = scratch.MLP([5, 8, 3], rng=np.random.default_rng(0))
    aware = scratch.MLP([5, 8, 3], rng=np.random.default_rng(0))
    scratch.fit(plain, scratch.CrossEntropyLoss(), scratch.SGD(0.1), x, y, epochs=3, batch_size=8)
    history = q.fit_quantization_aware(
        aware, scratch.CrossEntropyLoss(), scratch.SGD(0.1), x, y, bits=16, epochs=3, batch_size=8
    )
    assert len(history) == 3
    # 16-bit rounding moves a weight by at most max|w| / 65534 (1.0e-05 here): the two
    # paths end about one such step apart (measured 9.3e-06)
    for ours, theirs in zip(aware.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_quantization_aware_training_ends_on_the_grid(rng) -> None:
    x, y = rng.standard_normal((30, 4)), rng.integers(0, 2, size=30)
    model = scratch.MLP([4, 6, 2], rng=np.random.default_rng(0))
    q.fit_quantization_aware(
        model, scratch.CrossEntropyLoss(), scratch.Adam(), x, y, bits=3, epochs=2, batch_size=10
    )
    weights = model.get_weights()
    for weight, again in zip(weights, q.fake_quantize_weights(weights, 3), strict=True):
        np.testing.assert_allclose(weight, again, rtol=1e-12, atol=1e-15)
        if weight.ndim == 2:  # 3 bits, symmetric: at most 7 values per column
            assert max(len(np.unique(column)) for column in weight.T) <= 7
    with pytest.raises(ValueError, match="bits must be between 2 and 16"):
        q.fit_quantization_aware(
            model, scratch.CrossEntropyLoss(), scratch.Adam(), x, y, bits=1, epochs=1, batch_size=4
        )


@pytest.mark.keras
def test_tflite_int8_codes_are_the_scratch_quantisers_and_outputs_close(digits) -> None:
    pytest.importorskip("tensorflow")
    import dltutor.keras as dkeras
    from dltutor.keras import deploy

    dkeras.set_seed(0)
    model = dkeras.CNN(1, 8, 10, channels=(8, 16), hidden_units=32)
    x = digits.x_test[:, :, :, None].astype(np.float32)
    reference = model.predict_on_batch(x)
    calibration = digits.x_train[:128, :, :, None].astype(np.float32)
    for kind in ("dynamic", "int8"):
        run = deploy.tflite_runner(deploy.to_tflite(model, kind, calibration=calibration))
        out = np.concatenate([run(x[:1]), run(x[1:])])  # two batch sizes
        # int8 rounding, not exact; an empirical guard (the gaps measured are under 1%
        # of the logits' spread), with the codes themselves checked exactly below
        assert 0 < np.abs(out - reference).max() < 0.05 * np.ptp(reference)
    interpreter = run.interpreter
    stored = {
        tuple(d["shape"]): interpreter.get_tensor(d["index"])
        for d in interpreter.get_tensor_details()
        if d["dtype"] == np.int8 and d["quantization_parameters"]["scales"].size > 1
    }
    kernels = [layer.get_weights()[0] for layer in model.layers if layer.get_weights()]
    for kernel in kernels:
        kernel = np.moveaxis(kernel.astype(np.float64), -1, 0)  # output channel first
        scale, zero = q.quant_params(kernel, symmetric=True, axis=0)
        codes = q.quantize(kernel, scale, zero, symmetric=True)
        np.testing.assert_array_equal(codes, stored[codes.shape])
    assert len(kernels) == 4
