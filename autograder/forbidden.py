"""What each graded function must not use, and a static check of a submitted notebook for it.

The exercises forbid some libraries and routines (``../shared/EXERCISE_API.md``,
``exercises/README.md`` and the rules at the top of each notebook): the NumPy parts are
"NumPy only", ``conv2d_torch`` must not call ``F.conv2d``, ``maxpool2d_torch`` no pooling or
convolution routine, and so on. ``RULES`` writes these rules down as data (assignment ->
graded name -> ``Rule``); ``forbidden_uses`` checks a submission against them on the trusted
side, from the source alone: no student code runs.

How a notebook is read
----------------------
* Every code cell is turned into Python as IPython would (magics become ``get_ipython()``
  calls) and parsed with ``ast``; a cell that does not parse is skipped (a graded function
  defined there is not checked: the kernel fails it anyway). The code inside ``%time``,
  ``%timeit``, ``%prun``, ``%debug`` and ``%%capture`` runs in the notebook, so it is read too.
* Names are resolved across the whole notebook, with Python's scoping rules: imports and
  aliases in any cell (``import scipy.signal as ss``, ``F2 = F``, ``c = F.conv2d``,
  ``from torch.nn.functional import *``), locals, globals set inside functions,
  ``globals()["name"]``.
* Every top-level binding of a name counts, in whatever cell and order (a union, not "the
  last definition wins"): cells can be run in any order, and a cheating definition placed
  between a clean one and its tests would otherwise be missed.
* The code that can run when a graded name is called is its definition(s) (decorators,
  default values, annotations, class bodies and methods included) plus, transitively, every
  top-level binding of every global name that code refers to: private helpers, lambdas and
  aliases at top level, objects changed elsewhere (``_table["f"] = ...``, ``_obj.f = ...``,
  ``_ops.append(...)``, also from inside a function), and every change of a library the
  function may use (``torch.einsum = ...``, ``setattr(np, ...)``), wherever it is. A value
  stored from inside a function is followed through its local names; one that comes from
  elsewhere (a parameter) cannot be followed and is reported.
* That code is searched for forbidden libraries (through aliases), forbidden routines as
  attributes of anything (``x.conv2d``, ``torch.ops.aten.convolution``), as imported names
  and in strings that look like names (``getattr(F, "conv2d")``), a NumPy round trip where
  the exercise forbids it, and dynamic code that defeats a static reading: ``eval``,
  ``exec``, ``compile``, ``__import__``, ``importlib``, ``sys.modules``, ``globals()`` (but
  ``globals()["name"]``), ``vars()``, ``locals()``, ``getattr`` with a computed name (or
  passed around), ``operator.attrgetter``, ``builtins``, ``__dict__`` and other internals,
  frames, ``ctypes``, ``subprocess``, ``os.system``, ``pydoc.locate``, unpickling, ...
* Some dynamic code can change any function from any cell: ``exec``/``eval``/``compile``,
  writes through ``globals()``/``vars()``, ``__dict__``, ``__code__`` and other internals,
  ``sys.modules``, ``__main__``, ``builtins``, ``importlib``, ``ctypes``, ``gc``, frames,
  unpickling, ``unittest.mock``, ``doctest``, ``pdb``/``cProfile``/``trace`` runs, annotations
  holding code, changing an object's class, ``get_ipython()`` beyond magics and shell, magics
  such as ``%run`` or ``%load_ext``, and importing a module that is not installed in a notebook
  that writes files (it may be its own). It is reported for every graded name with a rule,
  whatever cell it is in ("cannot be checked"); where a graded name's own code contains it,
  that name gets the precise sentence instead. Any other code in cells that the graded
  functions do not reach (a figure comparing with ``scipy`` or ``F.conv2d``, ``import
  torchvision`` to compare parameter counts) is fine.

Decisions
---------
* NumPy parts: NumPy and the Python standard library only. All of NumPy is allowed
  (``np.einsum``, ``np.tensordot``, ``np.lib.stride_tricks``, ``np.fft``, ``np.pad``, and
  ``np.correlate``/``np.convolve`` too: the contract forbids *other* libraries, and the
  hidden tests judge what they compute). Every other library is refused, known or not: PyTorch, SciPy,
  TensorFlow, JAX, OpenCV, scikit-image, scikit-learn, Pillow, pandas, astropy, numba (a
  compiler: "NumPy only" rules it out, and it would defeat the speed test of
  ``conv2d_fast``), CuPy, ... Annotations count as code (``x: torch.Tensor`` uses PyTorch).
* Parameter counts and output sizes (``dense_param_count``, ``conv2d_param_count``,
  ``conv_output_size``, ``receptive_field``): plain Python or NumPy; building a PyTorch layer
  to count would let the library do the work.
* PyTorch re-implementations: PyTorch, NumPy (``np.integer`` checks) and the standard
  library; no routine of the family being rebuilt, matched by name anywhere
  (``conv`` for convolutions, which covers ``F.conv2d``, ``nn.Conv2d``,
  ``torch.ops.aten.convolution``, ``torch._C._nn.thnn_conv2d``, ``torch.nn.grad.conv2d_input``,
  ``conv_transpose*``; ``pool`` for pooling, forbidden in both PyTorch parts of 04 as its
  notebook says; ``interpolate``/``upsample``/``conv_transpose``/``unpool`` for
  ``upsample_nearest``), and no ``.numpy()``/``torch.from_numpy`` round trip (also in
  ``permute_pixels``). ``F.unfold``, ``F.fold``, ``F.pad``, ``Tensor.unfold`` and ``torch.einsum``
  stay allowed, as the notebooks suggest them.
* ``conv2d_backward_torch`` must call ``F.conv2d`` (autograd of it is the exercise); it may not
  take the gradient from ``torch.nn.grad`` or ``convolution_backward``.
* Module-building exercises (07, ``EncoderDecoder``, ``make_fc_net``) may name their own layers
  freely (``self.conv1``, ``getattr(self, f"conv{i}")``); refused there are model zoos
  (``torchvision``, ``timm``, ...), ``nn.Linear``/``F.interpolate``/``nn.Upsample`` in
  ``EncoderDecoder`` and convolutions in ``make_fc_net``; ``UNet`` may resize with any torch.nn
  layer (its contract fixes the levels and the concatenation, which the hidden tests check);
  modules that are not installed (a file the notebook wrote) cannot be checked and are reported. ``accuracy`` and ``train``
  refuse training and metric libraries (Lightning, Ignite, scikit-learn, torchmetrics, ...).
* ``BatchNorm2d`` (09) is built from tensor operations: no normalisation routine matched by name
  (``F.batch_norm``, ``torch.batch_norm``, ``nn.BatchNorm2d``, ``torch.native_batch_norm``, layer,
  group and instance norm) and no NumPy round trip. ``grad_cam`` and ``occlusion_map`` may use
  all of PyTorch (hooks, autograd, the model's own layers) but no explanation library (Captum,
  pytorch-grad-cam, TorchCAM, ...).
* Names with ``None`` have nothing to forbid: their hidden tests decide.

Usage::

    problems = forbidden_uses("02_convolution", [cell.source for cell in nb.cells if cell.cell_type == "code"])
    # {"conv2d_torch": ["conv2d_torch calls torch.nn.functional.conv2d (as `F.conv2d`), the routine ..."]}
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib.util
import re
import sys
from collections import deque
from dataclasses import dataclass

__all__ = ["RULES", "UNGRADED_RULES", "Rule", "forbidden_uses"]


# ------------------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class Rule:
    """What one graded name must not use.

    summary: the rule in a few words, for the student ("NumPy only").
    allowed: the libraries (top-level module names) allowed besides the standard library;
        ``None``: any library except ``forbidden`` (and modules that are not installed).
    forbidden: dotted module prefixes refused even where ``allowed`` lets their library in.
    routines: a regular expression (``re.search``) for names of routines it must not use,
        checked on attribute names of anything, imported names and name-like strings.
    routine_reason: why, for the student.
    no_numpy_roundtrip: ``.numpy()`` and ``torch.from_numpy`` are refused.
    own_attributes_ok: ``self.<name>`` and computed ``getattr(self, ...)`` are the student's
        own layers, not library routines.
    """

    summary: str
    allowed: frozenset[str] | None = None
    forbidden: tuple[str, ...] = ()
    routines: str | None = None
    routine_reason: str = ""
    no_numpy_roundtrip: bool = False
    own_attributes_ok: bool = False

    def forbids_routine(self, name: str) -> bool:
        return self.routines is not None and re.search(self.routines, name) is not None


_CONV = r"(?i)conv(?!ert|ex)"  # conv1d, Conv2d, conv_transpose2d, convolution, thnn_conv2d, ...
_CONV_OR_POOL = r"(?i)conv(?!ert|ex)|pool"  # and max_pool2d, MaxPool2d, adaptive_avg_pool2d, max_unpool2d, ...
_MODEL_ZOOS = (
    "torchvision", "timm", "pretrainedmodels", "efficientnet_pytorch", "segmentation_models_pytorch",
    "transformers", "torch.hub",
)

NUMPY_ONLY = Rule(summary="NumPy only", allowed=frozenset({"numpy"}))
PLAIN_PYTHON = Rule(summary="plain Python or NumPy, no PyTorch or other library", allowed=frozenset({"numpy"}))


def _tensor_ops(routines: str | None, reason: str, forbidden: tuple[str, ...] = ()) -> Rule:
    return Rule(
        summary="PyTorch tensor operations only",
        allowed=frozenset({"torch", "numpy"}),
        forbidden=forbidden,
        routines=routines,
        routine_reason=reason,
        no_numpy_roundtrip=True,
    )


CONV2D_TORCH = _tensor_ops(_CONV, "the routine it must re-implement")
POOL_OR_CONV_TORCH = _tensor_ops(
    _CONV_OR_POOL, "a convolution or pooling routine: this exercise builds them from tensor operations"
)
CONV_BACKWARD_TORCH = _tensor_ops(
    r"(?i)conv\w*backward|backward\w*conv|^conv[123]d_(input|weight)$",
    "a ready-made convolution gradient: take it from autograd of F.conv2d",
    forbidden=("torch.nn.grad",),
)
UPSAMPLE_TORCH = _tensor_ops(
    r"(?i)interpolate|upsampl|conv_?transpose|unpool", "an upsampling routine: build it from tensor operations"
)
TENSOR_OPS = _tensor_ops(None, "")
ARCHITECTURE = Rule(
    summary="build it here from torch.nn layers, not from a model library",
    forbidden=_MODEL_ZOOS,
    own_attributes_ok=True,
)
ENCODER_DECODER = Rule(
    summary="build it here from torch.nn layers, not from a model library",
    forbidden=_MODEL_ZOOS,
    routines=r"(?i)^(interpolate|upsample\w*|upsampling\w*|(lazy)?linear|bilinear)$",
    routine_reason="which the exercise rules out: strided convolutions down, transposed convolutions up",
    own_attributes_ok=True,
)
UNET = Rule(  # the contract fixes the levels and the concatenation, not the layers that resize
    summary="build it here from torch.nn layers, not from a model library",
    forbidden=_MODEL_ZOOS,
    own_attributes_ok=True,
)
FULLY_CONNECTED = Rule(
    summary="nn.Linear layers only",
    routines=_CONV,
    routine_reason="a convolution, in the fully connected network",
    own_attributes_ok=True,
)
TRAINING = Rule(
    summary="write it with PyTorch yourself",
    forbidden=(
        "sklearn", "torchmetrics", "lightning", "pytorch_lightning", "ignite", "skorch", "fastai", "keras",
        "tensorflow", "jax", *_MODEL_ZOOS,
    ),
    own_attributes_ok=True,
)
TRAINING_ON_DEVICE = Rule(  # train: the batches stay tensors on the data's device
    summary="write it with PyTorch yourself, keeping the batches on their device (no NumPy round trip)",
    forbidden=TRAINING.forbidden,
    own_attributes_ok=True,
    no_numpy_roundtrip=True,
)
MEASURED_RECEPTIVE_FIELD = Rule(
    summary="measure it with autograd yourself",
    forbidden=("torch_receptive_field", "torchscan", "receptivefield", *_MODEL_ZOOS),
    own_attributes_ok=True,
)

BATCHNORM_TORCH = Rule(  # 09: the module is built from tensor ops, its own parameters and buffers
    summary="PyTorch tensor operations only",
    allowed=frozenset({"torch", "numpy"}),
    routines=r"(?i)batch_?norm|instance_?norm|group_?norm|layer_?norm|^norm_except_dim$",
    routine_reason="the normalisation it must re-implement",
    no_numpy_roundtrip=True,
    own_attributes_ok=True,
)
_EXPLANATION_LIBRARIES = ("pytorch_grad_cam", "captum", "torchcam", "zennit", "lucent", "torchray", "shap", "lime")
GRAD_CAM = Rule(summary="compute it with hooks and autograd yourself", forbidden=_EXPLANATION_LIBRARIES)
OCCLUSION = Rule(summary="compute it yourself with the model's forward passes", forbidden=_EXPLANATION_LIBRARIES)

RULES: dict[str, dict[str, Rule | None]] = {
    "01_why_not_fully_connected": {
        "dense_param_count": PLAIN_PYTHON,
        "conv2d_param_count": PLAIN_PYTHON,
        "shift2d": NUMPY_ONLY,
        "equivariance_error": NUMPY_ONLY,
        "invariance_error": NUMPY_ONLY,
        "permute_pixels": TENSOR_OPS,
    },
    "02_convolution": {
        "conv1d": NUMPY_ONLY,
        "conv_matrix": NUMPY_ONLY,
        "conv_output_size": PLAIN_PYTHON,
        "corr2d": NUMPY_ONLY,
        "convolve2d": NUMPY_ONLY,
        "pad2d": NUMPY_ONLY,
        "conv2d_forward": NUMPY_ONLY,
        "conv2d_torch": CONV2D_TORCH,
    },
    "03_backprop_im2col": {
        "conv2d_backward": NUMPY_ONLY,
        "im2col": NUMPY_ONLY,
        "conv2d_fast": NUMPY_ONLY,
        "conv2d_backward_torch": CONV_BACKWARD_TORCH,
    },
    "04_pooling_upsampling": {
        "maxpool2d_forward": NUMPY_ONLY,
        "avgpool2d_forward": NUMPY_ONLY,
        "maxpool2d_backward": NUMPY_ONLY,
        "global_avgpool": NUMPY_ONLY,
        "maxpool2d_torch": POOL_OR_CONV_TORCH,
        "conv_transpose2d_torch": POOL_OR_CONV_TORCH,
    },
    "05_receptive_fields": {
        "receptive_field": PLAIN_PYTHON,
        "empirical_receptive_field": MEASURED_RECEPTIVE_FIELD,
    },
    "06_training_cnns": {
        "accuracy": TRAINING,
        "train": TRAINING_ON_DEVICE,
        "make_fc_net": FULLY_CONNECTED,
        "make_cnn": None,
    },
    "07_architectures": {
        name: ARCHITECTURE
        for name in (
            "VGGBlock", "InceptionModule", "ResidualBlock", "BottleneckBlock", "DenseBlock", "FireModule",
            "DepthwiseSeparableConv", "SEBlock", "resnet18", "vgg16",
        )
    },
    "08_beyond_classification": {
        "iou": NUMPY_ONLY,
        "nms": NUMPY_ONLY,
        "decode_yolo": NUMPY_ONLY,
        "upsample_nearest": UPSAMPLE_TORCH,
        "EncoderDecoder": ENCODER_DECODER,
        "average_precision": NUMPY_ONLY,
        "causal_conv1d_torch": CONV2D_TORCH,
        "UNet": UNET,
    },
    "09_normalisation_and_visualisation": {
        "batchnorm2d_forward": NUMPY_ONLY,
        "batchnorm2d_backward": NUMPY_ONLY,
        "BatchNorm2d": BATCHNORM_TORCH,
        "grad_cam": GRAD_CAM,
        "occlusion_map": OCCLUSION,
    },
}

# Names of the course contract (EXERCISE_API.md) that no assignment grades yet: move them
# into RULES[assignment] when one does.
UNGRADED_RULES: dict[str, Rule] = {}


# ---------------------------------------------------------------------------- vocabulary
_STDLIB = frozenset(sys.stdlib_module_names)
# Library names looked for in strings (getattr(..., "scipy"), importlib's argument, ...).
_KNOWN_LIBRARIES = frozenset({
    "scipy", "torch", "torchvision", "torchaudio", "tensorflow", "keras", "jax", "jaxlib", "flax", "cv2",
    "skimage", "sklearn", "numba", "cupy", "cupyx", "mxnet", "paddle", "theano", "pytensor", "PIL", "pandas",
    "astropy", "kornia", "timm", "tinygrad", "mlx", "dask", "xarray", "numexpr", "torchmetrics", "lightning",
    "pytorch_lightning", "ignite", "skorch", "fastai", "segmentation_models_pytorch", "torch_receptive_field",
    "torchscan", "captum", "pytorch_grad_cam",
})
# Dynamic code that can change any function from any cell: reported wherever it is.
_GLOBAL_ESCAPE_MODULES = {
    "importlib": "imports chosen at run time",
    "ctypes": "C calls",
    "cffi": "C calls",
    "sys.modules": "modules looked up at run time",
    "sys._getframe": "stack frames",
    "sys.settrace": "tracing hooks",
    "sys.setprofile": "profiling hooks",
    "sys.meta_path": "import hooks",
    "sys.path_hooks": "import hooks",
    "builtins": "the builtins module",
    "__main__": "the notebook's own module",
    "pickle": "unpickling runs code hidden in data",
    "_pickle": "unpickling runs code hidden in data",
    "cloudpickle": "unpickling runs code hidden in data",
    "dill": "unpickling runs code hidden in data",
    "marshal": "code objects from data",
    "shelve": "unpickling runs code hidden in data",
    "copyreg": "pickling hooks",
    "gc": "objects reached through the garbage collector",
    "types.FunctionType": "functions built from code objects",
    "types.CodeType": "code objects",
    "runpy": "code run from files",
    "code": "an interpreter",
    "codeop": "code compiled at run time",
    "numpy.ctypeslib": "C calls",
    "numpy.f2py": "compiled Fortran",
    "torch.utils.cpp_extension": "compiled C++",
    "torch.library": "operators registered at run time",
    "torch.jit.CompilationUnit": "TorchScript compiled from a string",
    "IPython": "the IPython shell",
    "pydoc.locate": "objects looked up by a dotted name",
    "unittest.mock": "attributes patched by name",
    "doctest": "code run from docstrings",
    "pdb": "code run from a string",
    "bdb": "code run from a string",
    "cProfile": "code run from a string",
    "profile": "code run from a string",
    "trace": "code run from a string",
    "typing.get_type_hints": "annotations evaluated as code",
    "inspect.get_annotations": "annotations evaluated as code",
}
# More dynamic code, reported where a graded function can reach it.
_REACHED_ESCAPE_MODULES = {
    **_GLOBAL_ESCAPE_MODULES,
    "inspect": "introspection",
    "subprocess": "another program",
    "pty": "another program",
    "multiprocessing.shared_memory": "shared memory",
    "joblib": "unpickling runs code hidden in data",
    "zipimport": "imports from archives",
    "pkgutil": "imports chosen at run time",
    "torch.hub": "code downloaded at run time",
    "torch.jit": "TorchScript compiled at run time",
    "pydoc": "objects looked up by a dotted name",
    "timeit": "code run from a string",
}
_SAFE_MODULE_PARTS = ("IPython.display",)
_OS_PROGRAMS = re.compile(r"^os\.(system|popen|exec\w*|spawn\w*|posix_spawn\w*|fork\w*|startfile)$")
_EVAL_BUILTINS = {
    "eval": "code built from a string",
    "exec": "code built from a string",
    "compile": "code built from a string",
    "__import__": "an import chosen at run time",
    "__build_class__": "classes built at run time",
    "breakpoint": "the debugger",
}
_NAMESPACE_BUILTINS = {"globals", "vars", "locals"}
_DANGEROUS_DUNDERS = frozenset({
    "__dict__", "__globals__", "__builtins__", "__code__", "__closure__", "__defaults__", "__kwdefaults__",
    "__subclasses__", "__mro__", "__bases__", "__base__", "__getattribute__", "__getattr__", "__setattr__",
    "__delattr__", "__import__", "__loader__", "__spec__", "__reduce__", "__reduce_ex__", "__func__",
    "__self__", "__wrapped__", "__init_subclass__", "__class_getitem__", "__set_name__",
})
_FRAME_ATTRIBUTES = frozenset({
    "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "gi_frame", "cr_frame", "ag_frame", "tb_frame",
    "tb_next", "co_code", "co_consts",
})
# The IPython shell reached without naming get_ipython (``exit._ip``, ``quit._ip``, a
# kernel object): its evaluators and namespaces run or rewrite any code.
_SHELL_ATTRIBUTES = frozenset({
    "_ip", "ev", "ex", "run_cell", "run_cell_async", "run_code", "run_ast_nodes", "safe_execfile",
    "safe_run_module", "user_ns", "user_global_ns", "user_ns_hidden", "ns_table", "input_transformers_cleanup",
    "input_transformers_post", "input_transformer_manager", "ast_transformers", "run_line_magic",
    "run_cell_magic", "magics_manager", "system_raw", "getoutput", "do_execute", "shell_handlers",
})
_NAMESPACE_READS = {"get", "keys", "items", "values", "copy", "__contains__"}
# Magics whose argument is Python that runs in the notebook's namespace.
_CODE_MAGICS = {"time", "timeit", "prun", "debug", "capture"}
# Magics that cannot change what a graded function runs (shell, display, packages, ...).
_HARMLESS_MAGICS = {
    "matplotlib", "pip", "conda", "mamba", "micromamba", "uv", "env", "cd", "pwd", "ls", "ll", "who", "whos",
    "who_ls", "precision", "xmode", "tb", "history", "hist", "pinfo", "pinfo2", "pdoc", "pdef", "psource",
    "pfile", "psearch", "page", "notebook", "autoreload", "aimport", "autosave", "autoawait", "lsmagic", "magic",
    "quickref", "doctest_mode", "colors", "system", "sx", "bash", "sh", "script", "writefile", "file", "html",
    "HTML", "javascript", "js", "latex", "markdown", "svg", "python", "python2", "python3", "pypy", "perl",
    "ruby", "reset", "reset_selective", "xdel", "killbgscripts", "dirs", "pushd", "popd", "dhist", "bookmark",
    "logstart", "logstop", "logon", "logoff", "logstate", "save", "gui", "pdb", "clear", "cls", "mkdir", "rmdir",
    "cat", "cp", "mv", "rm", "less", "more", "man", "ldir", "lf", "lk", "lx", "sc", "time", "timeit", "prun",
    "debug", "capture", "pylab",
}
# Ways a notebook can write a file (then a module that is not installed may be its own).
_FILE_MAGICS = {"bash", "sh", "script", "perl", "ruby", "python", "python2", "python3", "pypy", "save", "logstart"}
_SAFE_SHELL = re.compile(
    r"^\s*(pip3?|python3? -m pip|conda|mamba|uv pip|nvidia-smi|ls|ll|pwd|nproc|free|df|du|which|echo|cat|head|"
    r"tail|wc|lscpu|uname|whoami|date|env|printenv|hostname|id)\b[^>|;&`$]*$"
)
_FILE_WRITERS = {"write_text", "write_bytes", "savetxt", "tofile", "writelines", "symlink_to", "hardlink_to",
                 "to_csv", "to_pickle", "urlretrieve", "extractall", "writestr"}
_FILE_MODULES = re.compile(r"^(shutil|tempfile|subprocess|pty|zipfile|tarfile|io\.open|codecs\.open|"
                           r"os\.(rename|renames|replace|symlink|link|open|fdopen|popen|system|write|exec\w*|spawn\w*))\b")
_SAFE_CONFIG = re.compile(r"^\s*(InlineBackend|IPCompleter|Completer)\.")
_NAME_LIKE = re.compile(r"[A-Za-z_][\w.:]*")


@functools.lru_cache(maxsize=512)
def _installed(top: str) -> bool:
    if top in _STDLIB:
        return True
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def _prefixed(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + ".")


@functools.lru_cache(maxsize=4096)
def _escape_module(path: str, table_name: str) -> str | None:
    """Why ``path`` is dynamic code ("global": can change anything from anywhere; "reached": where
    a graded function can reach it), or None."""
    table = _GLOBAL_ESCAPE_MODULES if table_name == "global" else _REACHED_ESCAPE_MODULES
    if any(_prefixed(path, safe) for safe in _SAFE_MODULE_PARTS):
        return None
    for prefix, why in table.items():
        if _prefixed(path, prefix):
            return why
    if table_name == "reached":
        if _OS_PROGRAMS.match(path):
            return "another program"
        parts = path.split(".")
        if len(parts) >= 3 and parts[:2] == ["torch", "ops"] and parts[2] not in ("aten", "prims"):
            return f"a custom operator (torch.ops.{parts[2]})"
    return None


def _code(node: ast.AST | None, limit: int = 70) -> str:
    if node is None:
        return ""
    try:
        text = ast.unparse(node)
    except Exception:
        text = type(node).__name__
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unpickles(call: ast.Call) -> bool:
    """``np.load(..., allow_pickle=True)``, ``torch.load(..., weights_only=False)``, ``pd.read_pickle``:
    loading data that can run code."""
    for keyword in call.keywords:
        value = keyword.value
        if keyword.arg == "allow_pickle" and not (isinstance(value, ast.Constant) and not value.value):
            return True
        if keyword.arg == "weights_only" and not (isinstance(value, ast.Constant) and value.value):
            return True
    return isinstance(call.func, ast.Attribute) and call.func.attr in ("read_pickle", "load_pickle")


def _shell_writes(command: str) -> bool:
    """A shell command may write files (anything but package installs and looking around)."""
    return not _SAFE_SHELL.match(command)


def _module_file(path: str | None) -> str:
    """The module a written file can be imported as ("*": unknown, "": none)."""
    if path is None:
        return "*"
    name = path.replace("\\", "/").rstrip("/").split("/")
    if name[-1] == "__init__.py" and len(name) > 1:
        return name[-2]
    stem, _, suffix = name[-1].partition(".")
    return stem if suffix in ("py", "pyc", "pyw") or suffix.startswith(("so", "cpython")) else ""


def _literal_str(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


# ------------------------------------------------------------------------- reading cells
@functools.lru_cache(maxsize=1)
def _ipython_transformer():
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except Exception:
        return None
    return TransformerManager()


_MAGIC_LINE = re.compile(r"^(\s*)(%%?|!!?|\?\??)\s*(\w*)(.*)$")


def _neutralise_magics(source: str) -> str | None:
    """Fallback without IPython: magic and shell lines become ``pass`` (``%time stmt`` -> ``stmt``)."""
    lines = source.splitlines()
    first = lines[0].lstrip() if lines else ""
    if first.startswith("%%"):
        name = first[2:].split()[0] if first[2:].split() else ""
        if name not in _CODE_MAGICS:
            return None
        lines = ["", *lines[1:]]
    out = []
    for line in lines:
        match = _MAGIC_LINE.match(line)
        assign = re.match(r"^(\s*[\w.\[\], ]+=\s*)[%!]", line)
        if assign:
            out.append(assign.group(1) + "None")
        elif match:
            indent, _, name, rest = match.groups()
            out.append(indent + (rest.strip() if name in _CODE_MAGICS and rest.strip() else "pass"))
        elif line.rstrip().endswith("?") and not line.lstrip().startswith("#"):
            out.append(re.match(r"^\s*", line).group(0) + "pass")
        else:
            out.append(line)
    return "\n".join(out)


@functools.lru_cache(maxsize=2048)
def _parse(source: str) -> ast.Module | None:
    """The cell as the kernel runs it (magics as ``get_ipython()`` calls), or None."""
    transformer = _ipython_transformer()
    text: str | None = None
    if transformer is not None:
        try:
            text = transformer.transform_cell(source)
        except Exception:
            text = None
    if text is None:
        text = _neutralise_magics(source)
    if text is None:
        return None
    try:
        module = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    module.uses_ipython = "get_ipython" in text  # only then look for magics in it
    return module


def _magic_call(node: ast.AST) -> tuple[str, list[ast.expr]] | None:
    """``get_ipython().<method>(args)`` -> (method, args)."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Name)
        and node.func.value.func.id == "get_ipython"
        and not node.func.value.args
    ):
        return node.func.attr, node.args
    return None


def _magic_code(name: str, args: list[ast.expr]) -> list[str]:
    """Python run by a code magic: the body of a cell magic, the line of a line magic (options dropped)."""
    texts = [_literal_str(arg) or "" for arg in args[1:]]
    candidates = []
    if len(texts) == 2:  # run_cell_magic(name, line, body)
        candidates.append(texts[1])
    line = texts[0] if texts else ""
    tokens = line.split()
    for start in range(len(tokens) + 1):  # drop options such as "-n 10 -r 3" in front of the code
        rest = " ".join(tokens[start:])
        if rest and not rest.startswith("-"):
            try:
                ast.parse(rest)
            except SyntaxError:
                continue
            candidates.append(rest)
            break
    return candidates


# -------------------------------------------------------------------------------- scopes
_FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_SCOPE_NODES = (*_FUNCTION_NODES, ast.ClassDef, *_COMPREHENSIONS)


def _target_names(target: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]


class _LocalNames(ast.NodeVisitor):
    """Names bound in one scope (not in the scopes nested in it), its global declarations, aliases."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()
        self.aliases: dict[str, list[str | ast.expr]] = {}

    def _alias(self, name: str, value: str | ast.expr) -> None:
        self.names.add(name)
        self.aliases.setdefault(name, []).append(value)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.names.add(node.id)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self._alias(alias.asname, alias.name)
            else:
                top = alias.name.split(".")[0]
                self._alias(top, top)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = "." * node.level + (node.module or "")
        for alias in node.names:
            if alias.name != "*":
                self._alias(alias.asname or alias.name, f"{module}.{alias.name}")

    def visit_Global(self, node: ast.Global) -> None:
        self.globals.update(node.names)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.nonlocals.update(node.names)

    def _header(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        for expr in [*node.args.defaults, *node.args.kw_defaults]:
            if expr is not None:
                self.visit(expr)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.names.add(node.name)
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._header(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._header(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.names.add(node.name)
        for expr in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
            self.visit(expr)

    def _comprehension(self, node: ast.AST) -> None:
        for sub in ast.walk(node):  # := in a comprehension binds in the enclosing scope
            if isinstance(sub, ast.NamedExpr) and isinstance(sub.target, ast.Name):
                self.names.add(sub.target.id)

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.names.add(node.name)
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.name:
            self.names.add(node.name)
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self.names.add(node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        if node.rest:
            self.names.add(node.rest)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            self._alias(node.targets[0].id, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None and isinstance(node.target, ast.Name):
            self._alias(node.target.id, node.value)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._alias(node.target.id, node.value)
        self.generic_visit(node)


class _Scope:
    def __init__(self, node: ast.AST | None) -> None:
        self.node = node
        self.kind = "module" if node is None else ("class" if isinstance(node, ast.ClassDef) else "function")
        collector = _LocalNames()
        self.params: set[str] = set()
        if isinstance(node, _FUNCTION_NODES):
            args = node.args
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                if arg is not None:
                    self.params.add(arg.arg)
            collector.names.update(self.params)
            for statement in node.body if isinstance(node.body, list) else [node.body]:
                collector.visit(statement)
        elif isinstance(node, ast.ClassDef):
            for statement in node.body:
                collector.visit(statement)
        elif isinstance(node, _COMPREHENSIONS):
            for generator in node.generators:
                collector.names.update(_target_names(generator.target))
        self.globals = collector.globals
        self.locals = collector.names - collector.globals - collector.nonlocals
        self.aliases = collector.aliases


# ------------------------------------------------------------------------------ notebook
@dataclass
class _Binding:
    kind: str  # "def" (function or class statement), "import" (path), "value" (code to read)
    cell: int
    node: ast.AST | None = None
    path: str | None = None
    expression: bool = False  # node is an expression evaluated in module scope (usable for aliases)
    stack: list[_Scope] | None = None  # the scopes node is evaluated in (None: the module)


@dataclass
class _Patch:
    target: str  # the patched library attribute, as written
    paths: set[str]  # what its owner resolves to
    node: ast.AST  # the new value
    stack: list[_Scope]  # the scopes the value is evaluated in
    cell: int


@dataclass
class _Escape:
    cell: int
    code: str
    why: str
    node: int  # id() of the node, to skip it where a graded name's own code already reports it


class _Notebook:
    """Every parsed cell, the top-level bindings of the notebook, its patches and escapes."""

    def __init__(self, cell_sources: list[str]) -> None:
        self.modules: list[tuple[int, ast.Module]] = []
        self.bindings: dict[str, list[_Binding]] = {}
        self.star_imports: list[str] = []
        self.patches: list[_Patch] = []
        self.escapes: list[_Escape] = []
        self._global_paths: dict[str, set[str]] = {}
        self.unknown_imports: list[tuple[str, _Escape]] = []  # (module, escape if the notebook can write it)
        self.written_modules: set[str] = set()  # modules the notebook may have written ("*": any)
        self.module_scope = _Scope(None)
        for cell, source in enumerate(cell_sources):
            if isinstance(source, list):
                source = "".join(source)
            module = _parse(source if isinstance(source, str) else "")
            if module is not None:
                self._add_module(cell, module)
        for cell, module in list(self.modules):
            self._collect_top(cell, module.body)
        for cell, module in self.modules:
            _Scanner(self, cell).visit(module)
        for module, escape in self.unknown_imports:  # any other such import just fails in the kernel
            if "*" in self.written_modules or module in self.written_modules:
                self.escapes.append(escape)

    def _add_module(self, cell: int, module: ast.Module, depth: int = 0) -> None:
        self.modules.append((cell, module))
        if depth > 3 or not getattr(module, "uses_ipython", True):
            return
        for node in ast.walk(module):
            magic = _magic_call(node)
            if magic and magic[0] in ("run_line_magic", "run_cell_magic") and magic[1]:
                name = _literal_str(magic[1][0])
                if name in _CODE_MAGICS:
                    for text in _magic_code(name, magic[1]):
                        inner = _parse(text)
                        if inner is not None:
                            self._add_module(cell, inner, depth + 1)

    # -- bindings
    def bind(self, name: str, binding: _Binding) -> None:
        self.bindings.setdefault(name, []).append(binding)
        if binding.kind == "import" or binding.expression:
            self._global_paths.clear()

    def _collect_top(self, cell: int, statements: list[ast.stmt]) -> None:
        for st in statements:
            if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.bind(st.name, _Binding("def", cell, node=st))
            elif isinstance(st, ast.Import):
                for alias in st.names:
                    top = alias.name.split(".")[0]
                    self.bind(alias.asname or top, _Binding("import", cell, path=alias.name if alias.asname else top))
            elif isinstance(st, ast.ImportFrom):
                module = "." * st.level + (st.module or "")
                for alias in st.names:
                    if alias.name == "*":
                        self.star_imports.append(module)
                    else:
                        self.bind(alias.asname or alias.name, _Binding("import", cell, path=f"{module}.{alias.name}"))
            elif isinstance(st, ast.Assign):
                for target in st.targets:
                    for name in _target_names(target):
                        self.bind(name, _Binding("value", cell, node=st.value, expression=True))
            elif isinstance(st, (ast.AugAssign, ast.AnnAssign)):
                if st.value is not None:
                    for name in _target_names(st.target):
                        self.bind(name, _Binding("value", cell, node=st.value, expression=True))
            elif isinstance(st, (ast.For, ast.AsyncFor)):
                for name in _target_names(st.target):
                    self.bind(name, _Binding("value", cell, node=st.iter, expression=True))
                self._collect_top(cell, st.body + st.orelse)
            elif isinstance(st, (ast.With, ast.AsyncWith)):
                for item in st.items:
                    if item.optional_vars is not None:
                        for name in _target_names(item.optional_vars):
                            self.bind(name, _Binding("value", cell, node=item.context_expr, expression=True))
                self._collect_top(cell, st.body)
            elif isinstance(st, (ast.If, ast.While)):
                self._collect_top(cell, st.body + st.orelse)
            elif isinstance(st, (ast.Try, getattr(ast, "TryStar", ast.Try))):
                for handler in st.handlers:
                    self._collect_top(cell, handler.body)
                self._collect_top(cell, st.body + st.orelse + st.finalbody)
            elif isinstance(st, ast.Match):
                for case in st.cases:
                    for name in _target_names(case.pattern) + [
                        n.name for n in ast.walk(case.pattern) if isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name
                    ]:
                        self.bind(name, _Binding("value", cell, node=st.subject, expression=True))
                    self._collect_top(cell, case.body)

    # -- scopes and names
    @staticmethod
    def scope(node: ast.AST) -> _Scope:
        found = getattr(node, "forbidden_scope", None)  # kept on the node: parsed cells are cached
        if found is None:
            found = _Scope(node)
            node.forbidden_scope = found
        return found

    @staticmethod
    def lookup(name: str, stack: list[_Scope]) -> int:
        """Index in ``stack`` of the scope that binds ``name`` (0: the module)."""
        for i in range(len(stack) - 1, 0, -1):
            scope = stack[i]
            if scope.kind == "class" and i != len(stack) - 1:
                continue
            if name in scope.globals:
                return 0
            if name in scope.locals:
                return i
        return 0

    def is_builtin(self, name: str, stack: list[_Scope]) -> bool:
        return (
            self.lookup(name, stack) == 0
            and name not in self.bindings
            and (name in builtins.__dict__ or name == "get_ipython")
        )

    def only_notebook_code(self, name: str) -> bool:
        """``name`` is bound at top level to functions and classes of the notebook only."""
        found = self.bindings.get(name)
        return bool(found) and all(b.kind == "def" for b in found)

    def name_paths(self, name: str, stack: list[_Scope], seen: frozenset = frozenset()) -> set[str]:
        """The dotted library paths a name can stand for (empty: unknown or the notebook's own)."""
        index = self.lookup(name, stack)
        key = (name, id(stack[index]))
        if key in seen:
            return set()
        seen = seen | {key}
        paths: set[str] = set()
        if index > 0:
            for value in stack[index].aliases.get(name, []):
                paths |= {value} if isinstance(value, str) else self.paths(value, stack[: index + 1], seen)
            return paths
        if name in self.bindings:
            if name in self._global_paths:
                return self._global_paths[name]
            for binding in self.bindings[name]:
                if binding.kind == "import" and binding.path:
                    paths.add(binding.path)
                elif binding.kind == "value" and binding.expression:
                    paths |= self.paths(binding.node, [self.module_scope], seen)
            if len(seen) == 1:  # complete (not cut short by a cycle): keep it
                self._global_paths[name] = paths
            return paths
        if name in builtins.__dict__ or name == "get_ipython":
            return {f"<builtin>.{name}"}
        return {f"{module}.{name}" for module in self.star_imports}

    def paths(self, node: ast.AST | None, stack: list[_Scope], seen: frozenset = frozenset()) -> set[str]:
        if isinstance(node, ast.Name):
            return self.name_paths(node.id, stack, seen)
        if isinstance(node, ast.Attribute):
            return {f"{p}.{node.attr}" for p in self.paths(node.value, stack, seen)}
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
            first = node.args[0]
            if self.is_builtin(node.func.id, stack):
                if node.func.id == "getattr" and len(node.args) >= 2 and _literal_str(node.args[1]) is not None:
                    return {f"{p}.{node.args[1].value}" for p in self.paths(first, stack, seen)}
                if node.func.id == "__import__" and _literal_str(first):
                    return {first.value.split(".")[0]}
        if isinstance(node, ast.Call) and node.args and _literal_str(node.args[0]):
            if any(p.endswith("import_module") for p in self.paths(node.func, stack, seen)):
                return {node.args[0].value}
        if isinstance(node, ast.NamedExpr):
            return self.paths(node.value, stack, seen)
        return set()


class _ScopedVisitor(ast.NodeVisitor):
    """Walks code keeping the stack of scopes, as Python evaluates it."""

    def __init__(self, nb: _Notebook) -> None:
        self.nb = nb
        self.stack: list[_Scope] = [nb.module_scope]

    def _in(self, node: ast.AST, parts: list[ast.AST]) -> None:
        self.stack.append(self.nb.scope(node))
        try:
            for part in parts:
                self.visit(part)
        finally:
            self.stack.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        args = node.args
        annotations = [a.annotation for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
                       if a is not None and a.annotation is not None]
        for part in [*node.decorator_list, *args.defaults, *args.kw_defaults, *annotations, node.returns]:
            if part is not None:
                self.visit(part)
        self._in(node, node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for part in [*node.args.defaults, *node.args.kw_defaults]:
            if part is not None:
                self.visit(part)
        self._in(node, [node.body])

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for part in [*node.decorator_list, *node.bases, *node.keywords]:
            self.visit(part)
        self._in(node, node.body)

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp) -> None:
        self.visit(node.generators[0].iter)
        parts: list[ast.AST] = []
        for i, generator in enumerate(node.generators):
            parts += [generator.target, *generator.ifs] + ([generator.iter] if i else [])
        parts += [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        self._in(node, parts)

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension


# --------------------------------------------------------------------- whole-notebook scan
class _Scanner(_ScopedVisitor):
    """Finds, in every cell: globals set inside functions, changes to top-level objects, patches of
    libraries, and dynamic code that can change any function (the notebook-wide escapes)."""

    def __init__(self, nb: _Notebook, cell: int) -> None:
        super().__init__(nb)
        self.cell = cell
        self.parents: dict[int, ast.AST] = {}
        self.module: ast.AST | None = None
        self.quiet: set[int] = set()

    def visit_Module(self, node: ast.Module) -> None:
        self.module = node
        for statement in node.body:
            self.visit(statement)

    def _escape(self, node: ast.AST, why: str) -> None:
        self.nb.escapes.append(_Escape(self.cell, _code(node), why, id(node)))

    def _bind_value(self, name: str, value: ast.AST | None, alias: bool = True) -> None:
        """``name`` (a global) gets ``value``, read where it is evaluated (locals followed from there).
        alias: ``name`` is ``value`` (an assignment), not an object that ``value`` changes."""
        if value is None:
            return
        at_top = len(self.stack) == 1
        self.nb.bind(name, _Binding("value", self.cell, node=value, expression=alias and at_top,
                                    stack=None if at_top else list(self.stack)))

    # -- stores
    def _store(self, target: ast.AST, value: ast.AST | None) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._store(element, value)
            return
        if isinstance(target, ast.Starred):
            self._store(target.value, value)
            return
        if isinstance(target, ast.Name):
            if len(self.stack) > 1 and self.nb.lookup(target.id, self.stack) == 0:  # `global name` in a function
                self._bind_value(target.id, value)
            return
        if not isinstance(target, (ast.Attribute, ast.Subscript)):
            return
        base: ast.AST = target
        attributes = []
        while isinstance(base, (ast.Attribute, ast.Subscript)):
            if isinstance(base, ast.Attribute):
                attributes.append(base.attr)
            base = base.value
        if "__class__" in attributes:
            self._escape(target, "changes the class of an object")
            return
        if isinstance(base, ast.Call) and isinstance(base.func, ast.Name) and base.func.id == "type":
            self._escape(target, "changes a type")
            return
        if not isinstance(base, ast.Name):
            return
        owner = target.value
        paths = {p for p in self.nb.paths(owner, self.stack) if not p.startswith("<builtin>.")}
        if paths:  # a library changed: what it now runs is read, in the scope where it was set
            if value is None or isinstance(value, ast.Constant):
                return
            attribute = target.attr if isinstance(target, ast.Attribute) else None
            restored = self.nb.paths(value, self.stack)
            if attribute and restored and restored <= {f"{p}.{attribute}" for p in paths}:
                return  # the original put back (`F.pad = original` after `original = F.pad`)
            self.nb.patches.append(_Patch(_code(target), paths, value, list(self.stack), self.cell))
            return
        if self.nb.lookup(base.id, self.stack) == 0 and base.id in self.nb.bindings:
            self._bind_value(base.id, value, alias=False)  # `_table["f"] = ...`, `_obj.f = ...`

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._store(target, node.value)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._store(node.target, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._annotation(node.annotation)
        self._store(node.target, node.value)
        self.generic_visit(node)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self._store(node.target, node.iter)
        self.generic_visit(node)

    visit_AsyncFor = visit_For

    def visit_withitem(self, node: ast.withitem) -> None:
        if node.optional_vars is not None:
            self._store(node.optional_vars, node.context_expr)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        scopes = [s for s in self.stack if not isinstance(s.node, _COMPREHENSIONS)]
        if len(scopes) == 1:
            self._bind_value(node.target.id, node.value)
        self.generic_visit(node)

    # -- calls, names, attributes
    def visit_Call(self, node: ast.Call) -> None:
        magic = _magic_call(node)
        if magic is not None:
            self._magic(node, *magic)
            return
        func = node.func
        if _unpickles(node):
            self._escape(node, "unpickling runs code hidden in data")
        written = self._writes_file(node)
        if written:
            self.nb.written_modules.add(written)
        if isinstance(func, ast.Name) and self.nb.is_builtin(func.id, self.stack):
            if func.id in ("setattr", "delattr") and node.args:
                name = _literal_str(node.args[1]) if len(node.args) > 1 else None
                target = ast.Attribute(value=node.args[0], attr=name or "<computed>", ctx=ast.Store())
                self._store(target, node.args[2] if len(node.args) > 2 else None)
            if func.id in _NAMESPACE_BUILTINS and not self._namespace_read(node):
                self._escape(node, "writes through a namespace dictionary")
            if func.id in _NAMESPACE_BUILTINS:
                self.quiet.add(id(func))
        elif isinstance(func, ast.Attribute):
            base = func.value
            while isinstance(base, (ast.Attribute, ast.Subscript)):
                base = base.value
            if (
                isinstance(base, ast.Name)
                and self.nb.lookup(base.id, self.stack) == 0
                and any(b.kind != "import" for b in self.nb.bindings.get(base.id, []))
                and not self.nb.name_paths(base.id, [self.nb.module_scope])  # not a library: `F = torch.nn.functional`
            ):  # `_table.update(...)`, `_list.append(...)`: the arguments become part of the object
                self._bind_value(base.id, node, alias=False)
        self.generic_visit(node)

    def _writes_file(self, call: ast.Call) -> str | None:
        """The module a call may write ("*": any file), or None."""
        func = call.func
        target = _literal_str(call.args[0]) if call.args else None
        if isinstance(func, ast.Name) and func.id == "open" and self.nb.is_builtin("open", self.stack):
            mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
            text = _literal_str(mode) if mode is not None else "r"
            return _module_file(target) if text is None or set(text) & set("wax+") else None
        if isinstance(func, ast.Attribute) and func.attr in _FILE_WRITERS:
            return _module_file(target) if func.attr in ("savetxt", "tofile") else "*"
        return "*" if any(_FILE_MODULES.match(p) for p in self.nb.paths(func, self.stack)) else None

    def _namespace_read(self, call: ast.Call) -> bool:
        if not self.parents:
            for parent in ast.walk(self.module):
                for child in ast.iter_child_nodes(parent):
                    self.parents[id(child)] = parent
        parent = self.parents.get(id(call))
        if isinstance(parent, ast.Attribute) and parent.attr in _NAMESPACE_READS:
            return isinstance(self.parents.get(id(parent)), ast.Call)
        if isinstance(parent, ast.Compare):
            return call in parent.comparators and all(isinstance(op, (ast.In, ast.NotIn)) for op in parent.ops)
        if isinstance(parent, ast.Subscript):
            return parent.value is call and isinstance(parent.ctx, ast.Load)
        return False

    def _magic(self, node: ast.Call, method: str, args: list[ast.expr]) -> None:
        if method in ("system", "getoutput"):
            command = _literal_str(args[0]) if args else None
            if command is None or _shell_writes(command):
                self.nb.written_modules.add("*")
        elif method in ("run_line_magic", "run_cell_magic") and args and all(_literal_str(a) is not None for a in args):
            name, line = args[0].value, args[1].value if len(args) > 1 else ""
            if name in ("writefile", "file"):
                self.nb.written_modules.add(_module_file(line.split()[-1] if line.split() else None))
            elif name in _FILE_MAGICS or (name in ("system", "sx") and _shell_writes(line)):
                self.nb.written_modules.add("*")
            harmless = name in _HARMLESS_MAGICS
            if name == "config":
                harmless = not line.strip() or bool(_SAFE_CONFIG.match(line))
            elif name in ("load_ext", "reload_ext"):
                harmless = line.strip() == "autoreload"
            if not harmless:
                magic = f"%{name} {line.strip()}".strip()[:70]
                self.nb.escapes.append(_Escape(self.cell, magic, "an IPython magic", id(node)))
        else:
            self._escape(node, "the IPython shell")
        for arg in args:
            self.visit(arg)

    def visit_Name(self, node: ast.Name) -> None:
        if id(node) in self.quiet or not isinstance(node.ctx, ast.Load):
            return
        name = node.id
        if name in _DANGEROUS_DUNDERS and self.nb.lookup(name, self.stack) == 0:
            self._escape(node, "interpreter internals")
        elif self.nb.is_builtin(name, self.stack):
            if name in _EVAL_BUILTINS:
                self._escape(node, _EVAL_BUILTINS[name])
            elif name == "get_ipython":
                self._escape(node, "the IPython shell")
            elif name in _NAMESPACE_BUILTINS:
                self._escape(node, "a namespace dictionary")
        else:
            self._check_paths(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in _DANGEROUS_DUNDERS or node.attr in _FRAME_ATTRIBUTES:
            self._escape(node, "interpreter internals")
        elif node.attr in _SHELL_ATTRIBUTES:
            self._escape(node, "the IPython shell")
        if id(node) not in self.quiet:
            self._check_paths(node)
        inner = node.value
        while isinstance(inner, ast.Attribute):
            self.quiet.add(id(inner))
            inner = inner.value
        if isinstance(inner, ast.Name):
            self.quiet.add(id(inner))
        self.generic_visit(node)

    def _check_paths(self, node: ast.AST) -> None:
        for path in sorted(self.nb.paths(node, self.stack)):
            why = _escape_module(path, "global")
            if why:
                self._escape(node, why)
                return

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        modules = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [f"{'.' * node.level}{node.module or ''}.{a.name}".replace(".*", "") for a in node.names]
        )
        for path in modules:
            why = _escape_module(path, "global")
            if why:
                self._escape(node, why)
                return
            top = path.split(".")[0]
            if top == "" or not _installed(top):  # a module the notebook wrote can do anything on import
                why = "a module that is not installed, in a notebook that writes files"
                self.nb.unknown_imports.append((top or "*", _Escape(self.cell, _code(node), why, id(node))))
                return

    visit_ImportFrom = visit_Import

    def _annotation(self, annotation: ast.AST | None) -> None:
        """An annotation is evaluated by ``typing.get_type_hints`` and friends (a string one too): it
        may only name types."""
        if annotation is None:
            return
        tree = annotation
        text = _literal_str(annotation)
        if text is not None:
            try:
                tree = ast.parse(text.strip(), mode="eval")
            except SyntaxError:
                return
        allowed = (
            ast.Expression, ast.Name, ast.Attribute, ast.Subscript, ast.Tuple, ast.List, ast.Constant,
            ast.BinOp, ast.BitOr, ast.Load,
        )
        for sub in ast.walk(tree):
            if not isinstance(sub, allowed) or (isinstance(sub, ast.Attribute) and sub.attr.startswith("__")):
                self._escape(annotation, "code in an annotation")
                return
            if sub is not tree and _literal_str(sub) is not None and sub is not annotation:
                self._annotation(sub)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        args = node.args
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if arg is not None:
                self._annotation(arg.annotation)
        self._annotation(node.returns)
        super().visit_FunctionDef(node)

    visit_AsyncFunctionDef = visit_FunctionDef


# ------------------------------------------------------------------- reachable-code check
class _Report:
    """The sentences about one graded name, without repeats: one per library (the most precise
    path wins) and one per routine (the first place it is met: the graded code itself comes first)."""

    def __init__(self, graded: str) -> None:
        self.graded = graded
        self.messages: list[str] = []
        self._keyed: dict[tuple[str, str], tuple[int, int]] = {}  # key -> (index in messages, rank)

    def add(self, message: str, key: tuple[str, str] | None = None, rank: int = 0) -> None:
        if key is not None and key in self._keyed:
            index, best = self._keyed[key]
            if rank > best:
                self.messages[index] = message
                self._keyed[key] = (index, rank)
            return
        if message in self.messages:
            return
        if key is not None:
            self._keyed[key] = (len(self.messages), rank)
        self.messages.append(message)


class _Checker(_ScopedVisitor):
    """Reads the code a graded name can run and reports what its rule forbids."""

    def __init__(self, nb: _Notebook, rule: Rule, report: _Report, reach) -> None:
        super().__init__(nb)
        self.rule = rule
        self.report = report
        self.reach = reach  # callback: a global name is used
        self.where = ""  # ", in `_helper`"
        self.inner: set[int] = set()
        self.accepted: set[int] = set()
        self.called: set[int] = set()
        self.followed: set[tuple[str, int]] = set()
        self.outer = 0
        self.read: set[int] = set()  # id() of every node read

    def visit(self, node: ast.AST) -> None:
        self.read.add(id(node))
        super().visit(node)

    def run(self, node: ast.AST, where: str, stack: list[_Scope] | None = None) -> None:
        """Read ``node`` (evaluated in ``stack``, the module by default). Outside the module, local
        names defined around ``node`` are followed to their values; one that cannot be (a parameter,
        a loop variable) is reported."""
        self.where = where
        self.stack = list(stack) if stack else [self.nb.module_scope]
        self.outer = len(self.stack) - 1 if stack else 0
        self.visit(node)

    def _follow_local(self, node: ast.Name, index: int) -> None:
        scope = self.stack[index]
        key = (node.id, id(scope))
        if key in self.followed:
            return
        self.followed.add(key)
        values = [v for v in scope.aliases.get(node.id, []) if not isinstance(v, str)]
        if node.id in scope.params or (not values and node.id not in scope.aliases):
            self.dynamic(node, "a value passed in, which the grader cannot follow")
            return
        saved, saved_outer = self.stack, self.outer
        self.stack, self.outer = saved[: index + 1], index
        try:
            for value in values:
                self.visit(value)
        finally:
            self.stack, self.outer = saved, saved_outer

    # -- messages
    def _details(self, *parts: str) -> str:
        parts = tuple(p for p in parts if p) + ((self.where,) if self.where else ())
        return f" ({', '.join(parts)})" if parts else ""

    def dynamic(self, node: ast.AST | str, why: str) -> None:
        code = node if isinstance(node, str) else _code(node)
        where = f", {self.where}" if self.where else ""
        self.report.add(
            f"{self.report.graded} uses dynamic code the grader cannot check: `{code}` ({why}{where})"
        )

    def library(self, library: str, path: str, written: str) -> None:
        shown = path if path != library else ""
        as_written = f"as `{written}`" if written and written not in (path, library) else ""
        self.report.add(
            f"{self.report.graded} uses {library}{self._details(shown, as_written)}: {self.rule.summary}",
            key=("library", library),
            rank=len(path.split(".")),
        )

    def routine(self, what: str, written: str, node: ast.AST | None) -> None:
        verb = "calls" if node is not None and id(node) in self.called else "uses"
        as_written = f"as `{written}`" if written and written != what else ""
        self.report.add(
            f"{self.report.graded} {verb} {what}{self._details(as_written)}, {self.rule.routine_reason}",
            key=("routine", what),
        )

    def roundtrip(self, written: str) -> None:
        self.report.add(
            f"{self.report.graded} leaves PyTorch for NumPy{self._details(f'`{written}`')}: "
            "the result must be built from tensor operations"
        )

    # -- what a path may be
    def check_path(self, path: str, written: str, node: ast.AST | None = None) -> None:
        if path.startswith("<builtin>."):
            return
        why = _escape_module(path, "reached")
        if why:
            self.dynamic(written or path, why)
            return
        parts = path.split(".")
        top = parts[0]
        rule = self.rule
        refused = False
        if top == "":
            self.report.add(
                f"{self.report.graded} imports {path}, a module of the notebook's folder that the grader "
                f"cannot check{self._details()}"
            )
            return
        for prefix in rule.forbidden:
            if _prefixed(path, prefix):
                self.library(prefix, path, written)
                refused = True
                break
        if top not in _STDLIB and not refused:
            if rule.allowed is not None and top not in rule.allowed:
                self.library(top, path, written)
                refused = True
            elif rule.allowed is None and not _installed(top):
                self.report.add(
                    f"{self.report.graded} imports {top}, which is neither the standard library nor an "
                    f"installed package (a file the notebook wrote?): the grader cannot check it{self._details()}"
                )
                return
        if not refused and top not in _STDLIB:
            hits = [i for i, part in enumerate(parts) if i and rule.forbids_routine(part)]
            if hits:  # named up to the routine: `F.conv2d.__call__` is torch.nn.functional.conv2d
                self.routine(".".join(parts[: hits[0] + 1]), written, node)
        if rule.no_numpy_roundtrip and parts[-1] in ("numpy", "from_numpy") and len(parts) > 1:
            self.roundtrip(written or path)

    def _own(self, base: ast.AST) -> bool:
        """``base`` is the student's own object: ``self`` (where allowed) or a notebook class/function."""
        if not isinstance(base, ast.Name):
            return False
        if self.rule.own_attributes_ok and base.id in ("self", "cls"):
            return True
        return self.nb.lookup(base.id, self.stack) == 0 and self.nb.only_notebook_code(base.id)

    def _attribute_name(self, name: str, owner: ast.AST, node: ast.AST) -> None:
        """Checks of one attribute name, read from ``owner`` (``owner.name`` or ``getattr(owner, "name")``)."""
        if name in _DANGEROUS_DUNDERS or name in _FRAME_ATTRIBUTES:
            self.dynamic(node, "interpreter internals")
        elif name in _SHELL_ATTRIBUTES:
            self.dynamic(node, "the IPython shell")
        if self.rule.no_numpy_roundtrip and name in ("numpy", "from_numpy", "__array__"):
            self.roundtrip(_code(node))

    # -- visitors
    def visit_Expr(self, node: ast.Expr) -> None:
        if isinstance(node.value, ast.Constant):  # docstrings and other inert strings
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            paths = [a.name for a in node.names]
        else:
            module = "." * node.level + (node.module or "")
            paths = [module if a.name == "*" else f"{module}.{a.name}" for a in node.names]
        for path in paths:
            self.check_path(path, _code(node))

    visit_ImportFrom = visit_Import

    def visit_Name(self, node: ast.Name) -> None:
        if not isinstance(node.ctx, ast.Load):
            return
        name = node.id
        index = self.nb.lookup(name, self.stack)
        if index == 0 and name in self.nb.bindings:
            self.reach(name)
        if 0 < index <= self.outer:
            self._follow_local(node, index)
        if name in _DANGEROUS_DUNDERS and index == 0:
            self.dynamic(node, "interpreter internals")
            return
        if self.nb.is_builtin(name, self.stack):
            if id(node) in self.accepted:
                return
            if name in _EVAL_BUILTINS:
                self.dynamic(node, _EVAL_BUILTINS[name])
            elif name in _NAMESPACE_BUILTINS:
                self.dynamic(node, "a namespace dictionary")
            elif name in ("getattr", "delattr", "hasattr"):
                self.dynamic(node, "getattr with a computed name")
            elif name == "get_ipython":
                self.dynamic(node, "the IPython shell")
            return
        if id(node) in self.inner:
            return
        for path in sorted(self.nb.name_paths(name, self.stack)):
            self.check_path(path, name, node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        chain = [node]
        base: ast.AST = node.value
        while isinstance(base, ast.Attribute):
            chain.append(base)
            base = base.value
        if id(node) not in self.inner:
            for link in chain[1:]:
                self.inner.add(id(link))
            if isinstance(base, ast.Name):
                self.inner.add(id(base))
            written = _code(node)
            paths = {p for p in self.nb.paths(node, self.stack) if not p.startswith("<builtin>.")}
            if paths:
                for path in sorted(paths):
                    self.check_path(path, written, node)
            elif not self._own(base):
                names = [link.attr for link in reversed(chain)]
                if any(self.rule.forbids_routine(n) for n in names):
                    self.routine(written, written, node)
            for link in chain:
                self._attribute_name(link.attr, link.value, link)
        self.generic_visit(node)

    def _globals_call(self, node: ast.AST) -> bool:
        return (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "globals"
            and not node.args
            and self.nb.is_builtin("globals", self.stack)
        )

    def _global_by_name(self, call: ast.Call, key: ast.AST) -> None:
        """``globals()["name"]`` or ``globals().get("name")``: the global ``name`` itself."""
        self.accepted.add(id(call.func))
        name = _literal_str(key)
        if name is None:
            self.dynamic(call, "a namespace dictionary")
        elif name in self.nb.bindings:
            self.reach(name)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if self._globals_call(node.value) and isinstance(node.ctx, ast.Load):
            self._global_by_name(node.value, node.slice)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        self.called.add(id(node.func))
        func = node.func
        if _unpickles(node):
            self.dynamic(node, "unpickling runs code hidden in data")
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "get"
            and self._globals_call(func.value)
            and node.args
        ):
            self._global_by_name(func.value, node.args[0])
        if isinstance(func, ast.Name) and func.id in ("getattr", "hasattr", "delattr", "setattr") and (
            self.nb.is_builtin(func.id, self.stack)
        ):
            self.accepted.add(id(func))
            owner = node.args[0] if node.args else None
            name = _literal_str(node.args[1]) if len(node.args) > 1 else None
            if func.id in ("getattr", "hasattr"):
                if name is not None and owner is not None:
                    self._attribute_name(name, owner, node)
                    paths = {p for p in self.nb.paths(owner, self.stack) if not p.startswith("<builtin>.")}
                    if paths:
                        for path in sorted(paths):
                            self.check_path(f"{path}.{name}", _code(node), node)
                    elif self.rule.forbids_routine(name) and not self._own(owner):
                        self.routine(f"{_code(owner)}.{name}", _code(node), node)
                elif not (self.rule.own_attributes_ok and isinstance(owner, ast.Name) and owner.id == "self"):
                    self.dynamic(node, "getattr with a computed name")
        else:
            paths = self.nb.paths(func, self.stack)
            if any(p in ("operator.attrgetter", "operator.methodcaller") for p in paths):
                names = [_literal_str(a) for a in node.args]
                if not names or any(n is None for n in names):
                    self.dynamic(node, "attributes looked up by a computed name")
                else:
                    for dotted in names:
                        for part in dotted.split("."):
                            if self.rule.forbids_routine(part):
                                self.routine(repr(dotted), _code(node), node)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if not isinstance(value, str):
            return
        text = value.strip()
        if not text or text in self.nb.bindings or not _NAME_LIKE.fullmatch(text):
            return
        parts = [p for p in re.split(r"[.:]+", text) if p]
        rule = self.rule
        if rule.routines and not rule.own_attributes_ok and any(rule.forbids_routine(p) for p in parts):
            where = f", {self.where}" if self.where else ""
            self.report.add(
                f"{self.report.graded} names {text!r} in a string (a routine looked up by name?{where}), "
                f"{rule.routine_reason}"
            )
        top = parts[0]
        known = top in _KNOWN_LIBRARIES or any(f.split(".")[0] == top for f in rule.forbidden)
        if known and (
            (rule.allowed is not None and top not in rule.allowed) or any(_prefixed(text, f) for f in rule.forbidden)
        ):
            where = f", {self.where}" if self.where else ""
            self.report.add(
                f"{self.report.graded} names the library {text!r} in a string (a module imported by name?{where}): "
                f"{rule.summary}"
            )


def _check(nb: _Notebook, graded: str, rule: Rule) -> list[str]:
    """The sentences about one graded name: its code and everything it reaches, read under its rule.

    Code at module level (definitions, top-level values) is read first; code inside functions
    that changes a global or a library (``_ops.append(f)``, ``torch.einsum = f``) is read last,
    and only where the functions around it were not read already: there, a value that comes
    from elsewhere (a parameter) cannot be followed and is reported."""
    report = _Report(graded)
    first: deque[tuple[ast.AST, str, list[_Scope] | None]] = deque()
    last: deque[tuple[ast.AST, str, list[_Scope] | None]] = deque()
    reached: set[str] = set()

    def reach(name: str) -> None:
        if name in reached:
            return
        reached.add(name)
        for binding in nb.bindings.get(name, []):
            if binding.node is not None:
                where = "" if name == graded else f"in `{name}`"
                (last if binding.stack else first).append((binding.node, where, binding.stack))

    checker = _Checker(nb, rule, report, reach)
    for binding in nb.bindings.get(graded, []):
        if binding.kind == "import" and binding.path:
            checker.where = ""
            checker.check_path(binding.path, graded)
    if graded not in nb.bindings:
        return []
    reach(graded)
    for patch in nb.patches:
        tops = {p.split(".")[0] for p in patch.paths}
        if rule.allowed is None or any(t in _STDLIB or t in rule.allowed for t in tops):
            where = f"in the change of `{patch.target}` in code cell {patch.cell + 1}"
            (last if len(patch.stack) > 1 else first).append((patch.node, where, patch.stack))
    while first or last:
        node, where, stack = (first or last).popleft()
        if id(node) not in checker.read:
            checker.run(node, where, stack)
    for escape in nb.escapes:
        if escape.node in checker.read:
            continue  # reported above, in its own words
        report.add(
            f"{graded} cannot be checked: code cell {escape.cell + 1} uses `{escape.code}` ({escape.why}), "
            "which can change what any function runs"
        )
    return report.messages


def forbidden_uses(assignment: str, cell_sources: list[str]) -> dict[str, list[str]]:
    """graded name -> sentences saying what forbidden thing its code uses (missing: nothing found).

    cell_sources: the source of every code cell of the submitted notebook, in order. Cells that
    do not parse are skipped; graded names they define are not checked. An assignment without
    rules gives ``{}``.
    """
    rules = RULES.get(assignment)
    if not rules:
        return {}
    nb = _Notebook(list(cell_sources))
    found: dict[str, list[str]] = {}
    for graded, rule in rules.items():
        if rule is None:
            continue
        messages = _check(nb, graded, rule)
        if messages:
            found[graded] = messages
    return found
