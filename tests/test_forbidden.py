"""autograder.forbidden: the static check that graded functions use nothing their exercise forbids.

Fast (no kernel): reference solutions, student versions and the correct variants of
tests/variants/ are clean; a catalogue of cheats, plain and obfuscated, is caught; code the
graded functions do not reach (a figure comparing with SciPy) is not held against them.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
from test_variants import load_variants

from autograder.forbidden import RULES, UNGRADED_RULES, forbidden_uses

from conftest import EXERCISES, SOLUTIONS, assignments


def cells(assignment: str, root: Path = SOLUTIONS) -> list[tuple[str | None, str]]:
    """(grade_id of a solution cell or None, source) for every code cell of the notebook."""
    nb = json.loads((root / assignment / f"{assignment}.ipynb").read_text())
    out = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        out.append((meta.get("grade_id") if meta.get("solution") else None, source))
    return out


def submission(assignment: str, replace: dict[str, str] | None = None, extra: tuple[str, ...] = ()) -> list[str]:
    """The reference notebook's code cells, some solution cells replaced, extra cells at the end."""
    replace = {name: textwrap.dedent(source) for name, source in (replace or {}).items()}
    sources = [replace.get(grade_id, source) if grade_id else source for grade_id, source in cells(assignment)]
    return sources + [textwrap.dedent(source) for source in extra]


def found(assignment: str, replace: dict[str, str] | None = None, *extra: str) -> dict[str, list[str]]:
    return forbidden_uses(assignment, submission(assignment, replace, extra))


# ----------------------------------------------------------------------------- the table
def readme_names() -> dict[str, list[str]]:
    """assignment -> graded names, from the tables of exercises/README.md."""
    names: dict[str, list[str]] = {}
    current = None
    for line in (EXERCISES / "README.md").read_text().splitlines():
        heading = re.match(r"^## (\d\d_\w+)", line)
        if heading:
            current = heading.group(1)
            names[current] = []
        row = re.match(r"^\| `(\w+)` \|", line)
        if row and current:
            names[current].append(row.group(1))
    return names


def test_rules_list_every_graded_name_of_every_assignment():
    listed = readme_names()
    assert sorted(RULES) == sorted(assignments()) == sorted(listed)
    for assignment, names in listed.items():
        assert sorted(RULES[assignment]) == sorted(names), assignment
    graded = {name for names in listed.values() for name in names}
    assert not graded & set(UNGRADED_RULES), "a graded name belongs in RULES"


def test_reimplementations_and_numpy_parts_have_rules():
    for assignment, name in [
        ("02_convolution", "conv2d_torch"), ("04_pooling_upsampling", "maxpool2d_torch"),
        ("04_pooling_upsampling", "conv_transpose2d_torch"), ("08_beyond_classification", "upsample_nearest"),
        ("09_normalisation_and_visualisation", "BatchNorm2d"), ("08_beyond_classification", "causal_conv1d_torch"),
    ]:
        rule = RULES[assignment][name]
        assert rule is not None and rule.routines and rule.no_numpy_roundtrip, name
    numpy_parts = [
        line for line in (EXERCISES / "README.md").read_text().splitlines() if line.startswith("| `") and "(NumPy)" in line
    ]
    assert numpy_parts
    for line in numpy_parts:
        name = re.match(r"^\| `(\w+)` \|", line).group(1)
        rule = next(r[name] for r in RULES.values() if name in r)
        assert rule is not None and rule.allowed == frozenset({"numpy"}), name


def test_unknown_assignment_has_no_rules():
    assert forbidden_uses("99_nothing", ["import scipy"]) == {}


# ------------------------------------------------------------------------- clean notebooks
@pytest.mark.parametrize("assignment", assignments())
def test_reference_solution_is_clean(assignment):
    assert forbidden_uses(assignment, [source for _, source in cells(assignment)]) == {}


@pytest.mark.parametrize("assignment", assignments())
def test_student_version_is_clean(assignment):
    assert forbidden_uses(assignment, [source for _, source in cells(assignment, EXERCISES)]) == {}


@pytest.mark.parametrize("assignment", assignments())
def test_correct_variants_are_clean_and_library_mistakes_caught(assignment):
    correct, mistakes = load_variants(assignment)
    for variant, sources in correct.items():
        assert forbidden_uses(assignment, submission(assignment, sources)) == {}, variant
    for name, catalogue in mistakes.items():
        for description, source in catalogue.items():
            if re.search(r"calls F\.|uses F\.|NumPy round.trip|nn\.Upsample", description):
                assert name in forbidden_uses(assignment, submission(assignment, {name: source})), description


# -------------------------------------------------------------------------------- cheats
CONV2D_TORCH_HEAD = """
def conv2d_torch(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
"""


def conv2d_torch_calling(body: str) -> dict[str, str]:
    return {"conv2d_torch": CONV2D_TORCH_HEAD + textwrap.indent(textwrap.dedent(body), "    ")}


def only(result: dict[str, list[str]], name: str, *fragments: str) -> str:
    """The messages of ``name``, the only flagged name; each fragment occurs in them."""
    assert list(result) == [name], result
    text = "\n".join(result[name])
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    return text


def test_scipy_imported_inside_the_numpy_function():
    result = found("02_convolution", {"corr2d": """
        def corr2d(x, k):
            import scipy.signal
            return scipy.signal.correlate2d(x, k, mode="valid")
    """})
    only(result, "corr2d", "corr2d uses scipy", "NumPy only")


def test_scipy_imported_in_another_cell_and_used_through_an_alias():
    result = found("02_convolution", {"corr2d": """
        def corr2d(x, k):
            return ss.correlate2d(x, k, mode="valid")
    """}, "import scipy.signal as ss")
    only(result, "corr2d", "corr2d uses scipy (scipy.signal.correlate2d, as `ss.correlate2d`): NumPy only")


def test_scipy_from_another_cell_reached_through_a_private_helper():
    result = found("02_convolution", {"corr2d": """
        def _helper(x, k):
            return _c(x, k, mode="valid")


        def corr2d(x, k):
            return _helper(x, k)
    """}, "from scipy.signal import correlate2d as _c")
    only(result, "corr2d", "scipy.signal.correlate2d", "as `_c`", "in `_helper`")


def test_torch_in_a_numpy_function():
    result = found("02_convolution", {"conv2d_forward": """
        def conv2d_forward(x, w, b, stride=1, padding=0, dilation=1):
            out = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b))
            return out.numpy()
    """})
    only(result, "conv2d_forward", "conv2d_forward uses torch (torch.", "NumPy only")


def test_numpys_own_routines_are_allowed_in_numpy_parts():
    """The contract forbids other libraries; NumPy's np.correlate is judged by its values."""
    result = found("02_convolution", {"conv1d": """
        def conv1d(x, w, b=0.0):
            return np.correlate(x, w, mode="valid") + b
    """})
    assert "conv1d" not in result, result


def test_conv2d_torch_calls_f_conv2d():
    result = found("02_convolution", conv2d_torch_calling("return F.conv2d(x, w, b, stride, padding, dilation, groups)"))
    assert result == {"conv2d_torch": [
        "conv2d_torch calls torch.nn.functional.conv2d (as `F.conv2d`), the routine it must re-implement"
    ]}


@pytest.mark.parametrize(("body", "extra", "fragment"), [
    ("return _f(x, w, b)", ("_f = F.conv2d",), "calls torch.nn.functional.conv2d (as `_f`)"),
    ("return _f(x, w, b)", ("_f = None", "def _set():\n    global _f\n    _f = F.conv2d", "_set()"), "in `_f`"),
    ("return _table['conv'](x, w)", ("_table = {}", "_table['conv'] = F.conv2d"), "in `_table`"),
    ("return _ops[0](x, w)", ("_ops = []", "_ops.append(F.conv2d)"), "in `_ops`"),
    ("return torch.load('w.pt', weights_only=False)(x, w)", (), "unpickling"),
    ("return _ops[0](x, w)", ("_ops = []", "def _reg(f):\n    _ops.append(f)\n\n_reg(F.conv2d)"), "a value passed in"),
    ("return _impl(x, w)", ("_impl = None", "def _set(f):\n    global _impl\n    _impl = f\n\n_set(F.conv2d)"),
     "a value passed in"),
    ("return _ops[0](x, w)", ("_ops = []", "def _reg():\n    g = F.conv2d\n    _ops.append(g)\n\n_reg()"),
     "torch.nn.functional.conv2d (as `F.conv2d`, in `_ops`)"),
    ("return _g(x, w)", ("_g = lambda x, w: F2.conv2d(x, w)", "F2 = F"), "in `_g`"),
    ("return _H.f(x, w)", ("class _H:\n    f = staticmethod(F.conv2d)",), "in `_H`"),
    ("return conv2d(x, w)", ("from torch.nn.functional import *",), "torch.nn.functional.conv2d"),
    ("from torch.nn.functional import conv2d as c\nreturn c(x, w)", (), "torch.nn.functional.conv2d"),
    ("return getattr(F, 'conv' + '2d')(x, w)", (), "getattr with a computed name"),
    ('return getattr(F, "conv2d")(x, w)', (), "torch.nn.functional.conv2d"),
    ("return __import__('torch').nn.functional.conv2d(x, w)", (), "torch.nn.functional.conv2d"),
    ("return torch.ops.aten.convolution(x, w, b, [1, 1], [0, 0], [1, 1], False, [0, 0], 1)", (),
     "torch.ops.aten.convolution"),
    ("return torch._C._nn.thnn_conv2d(x, w, w.shape[2:])", (), "torch._C._nn.thnn_conv2d"),
    ("import importlib\nreturn importlib.import_module('torch.nn.' + 'functional').conv2d(x, w)", (), "importlib"),
    ("import sys\nreturn sys.modules['torch.nn.functional'].conv2d(x, w)", (), "sys.modules"),
    ("mod = sys.modules['torch.nn.' + 'functional']\nreturn getattr(mod, name)(x, w)", ("import sys",),
     "sys.modules"),
    ('return eval("F.conv2d")(x, w)', (), "code built from a string"),
    ('ns = {}\nexec("out = F.conv" + "2d(x, w)", {"F": F, "x": x, "w": w}, ns)\nreturn ns["out"]', (),
     "code built from a string"),
    ("return vars(F)['conv2d'](x, w)", (), "a namespace dictionary"),
    ("return F.__dict__['conv' + '2d'](x, w)", (), "interpreter internals"),
    ("layer = torch.nn.Conv2d(w.shape[1], w.shape[0], w.shape[2:], bias=False)\n"
     "layer.weight = torch.nn.Parameter(w)\nreturn layer(x)", (), "torch.nn.Conv2d"),
    ("return torch.nn.grad.conv2d_input(x.shape, w, x)", (), "torch.nn.grad.conv2d_input"),
    ("return x.conv2d(w)", (), "calls x.conv2d, the routine it must re-implement"),
    ("return _k(x, w)", ("import operator\n_k = operator.methodcaller('conv' + '2d')",), "computed name"),
])
def test_conv2d_torch_reaching_f_conv2d_however_written(body, extra, fragment):
    result = found("02_convolution", conv2d_torch_calling(body), *extra)
    assert fragment in "\n".join(result.pop("conv2d_torch", [])), fragment
    for name, messages in result.items():  # code that can rewrite any function is reported for all
        assert all("cannot be checked: code cell" in m for m in messages), (name, messages)
        assert re.search(r"eval|exec|importlib|__import__|sys\.modules|__dict__|vars|unpickling", "\n".join(messages))


def test_f_conv2d_as_a_default_argument():
    result = found("02_convolution", {"conv2d_torch": """
        def conv2d_torch(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, _impl=F.conv2d):
            return _impl(x, w, b, stride, padding, dilation, groups)
    """})
    only(result, "conv2d_torch", "torch.nn.functional.conv2d")


def test_decorator_that_swaps_the_function_for_f_conv2d():
    result = found("02_convolution", {"conv2d_torch": """
        def _fast(function):
            return lambda *args, **kwargs: F.conv2d(*args, **kwargs)


        @_fast
        def conv2d_torch(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
            raise NotImplementedError()
    """})
    only(result, "conv2d_torch", "calls torch.nn.functional.conv2d (as `F.conv2d`, in `_fast`)")


def test_graded_name_rebound_in_another_cell():
    for cell in [
        "from torch.nn.functional import conv2d as conv2d_torch",
        "conv2d_torch = F.conv2d",
        "conv2d_torch.__code__ = (lambda x, w, *a: F.conv2d(x, w)).__code__",
        "def _rebind():\n    global conv2d_torch\n    conv2d_torch = F.conv2d\n\n_rebind()",
        "%time conv2d_torch = F.conv2d",
        "%%capture\nconv2d_torch = F.conv2d",
        "print((conv2d_torch := F.conv2d))",
        "for conv2d_torch in [F.conv2d]:\n    pass",
        "try:\n    from torch.nn.functional import conv2d as conv2d_torch\nexcept ImportError:\n    pass",
    ]:
        result = found("02_convolution", None, cell)
        assert "conv2d_torch" in result, cell
        assert "torch.nn.functional.conv2d" in "\n".join(result["conv2d_torch"]) or "__code__" in cell, cell


def test_a_library_patched_elsewhere_is_read():
    result = found("02_convolution", None, "torch.einsum = lambda spec, a, b: F.conv2d(a, b)")
    only(result, "conv2d_torch", "torch.nn.functional.conv2d", "in the change of `torch.einsum`")
    result = found("02_convolution", None, "def _patch(f):\n    torch.einsum = f\n\n_patch(F.conv2d)")
    only(result, "conv2d_torch", "a value passed in, which the grader cannot follow")


def test_code_that_rewrites_the_namespace_is_reported_for_every_graded_name():
    for cell in [
        'globals()["conv2d_torch"] = F.conv2d',
        'exec("conv2d_torch = F.conv2d")',
        "import sys\nsetattr(sys.modules['__main__'], 'conv2d_torch', F.conv2d)",
        "%run cheat.py",
        ("%%writefile helper.py\nimport __main__\n__main__.conv2d_torch = __main__.F.conv2d", "import helper"),
        ("!echo 'import __main__' > helper.py", "from helper import *"),
        "open('helper.py', 'w').write('...')\nimport helper",
        "from unittest import mock\nmock.patch('torch.einsum', F.conv2d).start()",
        "def _h(x: '(conv2d_torch := F.conv2d)'): pass\nimport typing\ntyping.get_type_hints(_h)",
        "import sys\nsys._getframe(0).f_globals['conv2d_torch'] = F.conv2d",
        "F.__class__ = type('M', (type(F),), {})",
        "get_ipython().events.register('pre_run_cell', print)",
        "_data = np.load('data.npy', allow_pickle=True)",
    ]:
        result = found("02_convolution", None, *((cell,) if isinstance(cell, str) else cell))
        assert set(result) == {n for n, rule in RULES["02_convolution"].items() if rule}, cell
        assert all("cannot be checked: code cell" in m for m in result["corr2d"]), result


def test_pooling_and_transposed_convolution_routines():
    only(found("04_pooling_upsampling", {"maxpool2d_torch": """
        def maxpool2d_torch(x, kernel_size, stride=None):
            return F.max_pool2d(x, kernel_size, stride)
    """}), "maxpool2d_torch", "calls torch.nn.functional.max_pool2d (as `F.max_pool2d`)")
    only(found("04_pooling_upsampling", {"maxpool2d_torch": """
        def maxpool2d_torch(x, kernel_size, stride=None):
            return torch.nn.MaxPool2d(kernel_size, stride)(x)
    """}), "maxpool2d_torch", "torch.nn.MaxPool2d")
    only(found("04_pooling_upsampling", {"conv_transpose2d_torch": """
        def conv_transpose2d_torch(x, w, b=None, stride=1, padding=0):
            return F.conv_transpose2d(x, w, b, stride=stride, padding=padding)
    """}), "conv_transpose2d_torch", "torch.nn.functional.conv_transpose2d")
    only(found("04_pooling_upsampling", {"avgpool2d_forward": """
        from scipy.ndimage import uniform_filter

        def avgpool2d_forward(x, kernel_size, stride=None):
            return uniform_filter(x, kernel_size)
    """}), "avgpool2d_forward", "scipy")


def test_other_assignments():
    only(found("08_beyond_classification", {"nms": """
        def nms(boxes, scores, iou_threshold):
            import torch, torchvision
            return torchvision.ops.nms(torch.as_tensor(boxes), torch.as_tensor(scores), iou_threshold).numpy()
    """}), "nms", "nms uses torchvision", "nms uses torch")
    only(found("07_architectures", {"resnet18": """
        from torchvision.models import resnet18 as _tv_resnet18

        def resnet18(num_classes=1000):
            return _tv_resnet18(num_classes=num_classes)
    """}), "resnet18", "resnet18 uses torchvision")
    only(found("03_backprop_im2col", {"conv2d_fast": """
        import numba

        def conv2d_fast(x, w, b, stride=1, padding=0, dilation=1):
            return numba.njit(lambda: 0)()
    """}), "conv2d_fast", "conv2d_fast uses numba")
    only(found("02_convolution", {"conv_output_size": """
        def conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
            import torch
            return torch.nn.Conv1d(1, 1, kernel_size, stride, padding, dilation)(torch.zeros(1, 1, n)).shape[-1]
    """}), "conv_output_size", "torch")


BATCHNORM_HEAD = """
class BatchNorm2d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.eps, self.momentum = eps, momentum

    def forward(self, x):
"""


@pytest.mark.parametrize(("body", "fragment"), [
    ("return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.training)",
     "torch.nn.functional.batch_norm"),
    ("return torch.batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var, self.training, "
     "self.momentum, self.eps, False)", "torch.batch_norm"),
    ("return nn.BatchNorm2d(x.shape[1])(x)", "torch.nn.BatchNorm2d"),
    ("return torch.native_batch_norm(x, self.weight, self.bias, None, None, True, 0.1, 1e-5)[0]", "native_batch_norm"),
    ("return F.group_norm(x, 1, self.weight, self.bias)", "group_norm"),
    ("return torch.from_numpy((x.numpy() - x.numpy().mean()) / x.numpy().std())", "numpy"),
])
def test_batchnorm_module_rebuilds_the_normalisation(body, fragment):
    result = found("09_normalisation_and_visualisation",
                   {"BatchNorm2d": BATCHNORM_HEAD + textwrap.indent(body, " " * 8)})
    assert fragment in "\n".join(result.pop("BatchNorm2d", [])), fragment
    assert not result, result


def test_explanations_use_no_explanation_library():
    only(found("09_normalisation_and_visualisation", {"grad_cam": """
        def grad_cam(model, layer, x, target):
            from pytorch_grad_cam import GradCAM
            return GradCAM(model=model, target_layers=[layer])(x)
    """}), "grad_cam", "pytorch_grad_cam")
    only(found("09_normalisation_and_visualisation", {"occlusion_map": """
        def occlusion_map(model, x, target, patch, stride, fill=0.0):
            import captum.attr
            return captum.attr.Occlusion(model).attribute(x, target=target, sliding_window_shapes=(1, patch, patch))
    """}), "occlusion_map", "captum")
    assert found("09_normalisation_and_visualisation", {"occlusion_map": """
        def occlusion_map(model, x, target, patch, stride, fill=0.0):
            windows = F.unfold(x, patch, stride=stride)
            return model(x)[:, target] - windows.sum() * 0
    """}) == {}


def test_beyond_classification_more():
    """08's average_precision is NumPy only, causal_conv1d_torch builds the convolution itself, UNet may resize freely."""
    only(found("08_beyond_classification", {"average_precision": """
        from sklearn.metrics import average_precision_score

        def average_precision(scores, is_match, n_ground_truth):
            return float(average_precision_score(is_match, scores))
    """}), "average_precision", "sklearn")
    only(found("08_beyond_classification", {"causal_conv1d_torch": """
        def causal_conv1d_torch(x, w, b=None, dilation=1):
            layer = torch.nn.Conv1d(w.shape[1], w.shape[0], w.shape[2], dilation=dilation, bias=b is not None)
            return layer(torch.nn.functional.pad(x, (dilation * (w.shape[2] - 1), 0)))
    """}), "causal_conv1d_torch", "torch.nn.Conv1d")
    only(found("08_beyond_classification", {"causal_conv1d_torch": """
        def causal_conv1d_torch(x, w, b=None, dilation=1):
            import numpy as np
            out = np.zeros((x.shape[0], w.shape[0], x.shape[2]))
            return torch.from_numpy(out + x.detach().numpy().sum())
    """}), "causal_conv1d_torch", "NumPy")
    assert found("08_beyond_classification", {"UNet": """
        class UNet(nn.Module):
            def __init__(self, in_channels, num_classes, width=16, depth=2):
                super().__init__()
                self.up = nn.Upsample(scale_factor=2, mode="bilinear")
                self.pool = nn.MaxPool2d(2)
                self.head = nn.Conv2d(in_channels, num_classes, 1)

            def forward(self, x):
                return self.head(self.up(self.pool(x)))
    """}) == {}
    only(found("08_beyond_classification", {"UNet": """
        import segmentation_models_pytorch as smp

        def UNet(in_channels, num_classes, width=16, depth=2):
            return smp.Unet(in_channels=in_channels, classes=num_classes, encoder_depth=depth)
    """}), "UNet", "segmentation_models_pytorch")


def test_allowed_tools_stay_allowed():
    assert found("02_convolution", {"corr2d": """
        from numpy.lib.stride_tricks import sliding_window_view

        def corr2d(x, k):
            return np.einsum("ijuv,uv->ij", sliding_window_view(np.asarray(x), k.shape), k)
    """}) == {}
    assert found("02_convolution", conv2d_torch_calling("""
        sh, sw = globals()["as_pair"](stride, "stride")
        cols = F.unfold(torch.nn.functional.pad(x, (padding,) * 4), w.shape[2:], stride=(sh, sw))
        return (w.reshape(w.shape[0], -1) @ cols).reshape(x.shape[0], w.shape[0], -1)
    """)) == {}
    assert found("03_backprop_im2col", {"conv2d_backward_torch": """
        def conv2d_backward_torch(dout, x, w, b, stride=1, padding=0, dilation=1):
            leaves = [t.detach().requires_grad_() for t in (x, w, b)]
            with torch.enable_grad():
                out = F.conv2d(*leaves, stride=stride, padding=padding, dilation=dilation)
                return torch.autograd.grad(out, leaves, grad_outputs=dout)
    """}) == {}
    assert found("07_architectures", {"VGGBlock": """
        class VGGBlock(nn.Module):
            def __init__(self, in_channels, out_channels, num_convs):
                super().__init__()
                self.n = num_convs
                for i in range(num_convs):
                    self.add_module(f"conv{i}", nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1))
                self.act = getattr(nn, "ReLU")()

            def forward(self, x):
                for i in range(self.n):
                    x = self.act(getattr(self, f"conv{i}")(x))
                return F.max_pool2d(x, 2)
    """}) == {}
    assert found("08_beyond_classification", {"EncoderDecoder": """
        class EncoderDecoder(nn.Module):
            def __init__(self, in_channels, num_classes, width=16):
                super().__init__()
                self.upsample = nn.ConvTranspose2d(width, width, 2, stride=2)
                self.down = nn.Conv2d(in_channels, width, 3, stride=2, padding=1)
                self.head = nn.Conv2d(width, num_classes, 1)

            def forward(self, x):
                return self.head(self.upsample(self.down(x)))
    """}) == {}


def test_code_the_graded_functions_do_not_reach_is_not_held_against_them():
    figure = """
        import scipy.signal
        from scipy.signal import correlate2d as _reference
        import torch.nn.functional as F

        _x = np.random.default_rng(0).normal(size=(6, 7))
        _k = np.ones((2, 3))
        print(np.abs(corr2d(_x, _k) - _reference(_x, _k, mode="valid")).max())
        print(F.conv2d(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 2, 2)))
        _ref = lambda x, w: F.conv2d(x, w)
        _names = [n for n in dir(F) if getattr(F, n) is not None]
        assert "corr2d" in globals() and globals().get("conv1d") is not None
    """
    assert found("02_convolution", None, figure) == {}
    # a cache filled by the graded function itself; F assigned rather than imported, used elsewhere
    assert found("02_convolution", conv2d_torch_calling("""
        _cache.setdefault(tuple(x.shape), []).append(x)
        return F.pad(x, (1, 1, 1, 1))
    """), "_cache = {}", "F = torch.nn.functional", "print(F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2)))") == {}


def test_a_module_that_is_not_installed_only_matters_where_the_notebook_can_write_it():
    assert found("02_convolution", None, "import a_package_that_is_not_installed") == {}
    assert found("02_convolution", None, "!pip install a_package", "import a_package") == {}
    assert found("02_convolution", None, "%%writefile notes.txt\nhello", "import a_package") == {}
    assert "corr2d" in found("02_convolution", None, "!wget -q http://example.org/a_package.py", "import a_package")
    result = found("02_convolution", conv2d_torch_calling("import cheat\nreturn cheat.conv(x, w)"))
    only(result, "conv2d_torch", "conv2d_torch uses cheat (cheat.conv")


def test_syntax_errors_and_magics_do_not_crash_it():
    broken = {"corr2d": "def corr2d(x, k):\n    return scipy.signal.correlate2d(x, k\n"}
    result = found("02_convolution", broken, "%matplotlib inline", "!pip install nothing",
                   "%%bash\necho 'import scipy' > x.txt", "corr2d?", "x = !ls", "%%time\n_t = conv1d([1, 2], [1])",
                   "def oops(:\n    pass", "\x00\x01", "%config InlineBackend.figure_format = 'retina'")
    assert result == {}  # corr2d is in a cell that does not parse: not checked (the kernel fails it)
    assert forbidden_uses("02_convolution", []) == {}


def test_the_shell_reached_through_exit_is_an_escape():
    """``exit._ip`` is the IPython shell: its evaluator runs any code the checker never sees."""
    result = found("02_convolution", {"conv2d_torch": """
        _conv = exit._ip.ev("F." + "co" + "nv2d")

        def conv2d_torch(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
            return _conv(x, w, b, stride, padding, dilation, groups)
    """})
    assert "conv2d_torch" in result and "IPython shell" in " ".join(result["conv2d_torch"]), result
