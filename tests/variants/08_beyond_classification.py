"""Correct variants and classic mistakes for 08_beyond_classification (see README.md here)."""

# ----------------------------------------------------------------------------- correct
IOU_PLAIN = '''
def iou(box_a, box_b):
    ax1, ay1, ax2, ay2 = (float(v) for v in box_a)
    bx1, by1, bx2, by2 = (float(v) for v in box_b)
    if ax2 < ax1 or ay2 < ay1 or bx2 < bx1 or by2 < by1:
        raise ValueError("boxes need x1 <= x2 and y1 <= y2")
    inter_w = min(ax2, bx2) - max(ax1, bx1)
    inter_h = min(ay2, by2) - max(ay1, by1)
    if inter_w <= 0 or inter_h <= 0:
        return 0.0
    inter = inter_w * inter_h
    return inter / ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter)
'''

IOU_NUMPY = '''
import numpy as np

def iou(box_a, box_b):
    boxes = np.array([box_a, box_b], dtype=np.float64)
    if boxes.shape != (2, 4) or (boxes[:, 2:] < boxes[:, :2]).any():
        raise ValueError(f"expected two boxes (x1, y1, x2, y2) with x1 <= x2, y1 <= y2, got {boxes.tolist()}")
    low = boxes[:, :2].max(axis=0)
    high = boxes[:, 2:].min(axis=0)
    inter = float(np.prod(np.clip(high - low, 0.0, None)))
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    union = float(areas.sum()) - inter
    return inter / union if union > 0 else 0.0
'''

NMS_LOOPS = '''
import numpy as np

def _overlap(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0

def nms(boxes, scores, iou_threshold):
    boxes = np.asarray(boxes, dtype=float)
    scores = np.asarray(scores, dtype=float)
    if boxes.ndim != 2 or boxes.shape[-1] != 4 or scores.shape != (len(boxes),):
        raise ValueError("boxes must be (M, 4) and scores (M,)")
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep = []
    for i in order:
        if all(_overlap(boxes[i], boxes[k]) <= iou_threshold for k in keep):
            keep.append(i)
    return np.array(keep, dtype=np.int64)
'''

NMS_MATRIX = '''
import numpy as np

def nms(boxes, scores, iou_threshold):
    boxes = np.asarray(boxes, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError("boxes must be (M, 4)")
    if scores.ndim != 1 or len(scores) != len(boxes):
        raise ValueError("scores must be (M,)")
    order = np.lexsort((np.arange(len(scores)), -scores))
    b = boxes[order]
    low = np.maximum(b[:, None, :2], b[None, :, :2])
    high = np.minimum(b[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(high - low, 0, None), axis=-1)
    area = np.prod(b[:, 2:] - b[:, :2], axis=-1)
    union = area[:, None] + area[None, :] - inter
    ious = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    alive = np.ones(len(b), dtype=bool)
    for i in range(len(b)):
        if alive[i]:
            later = np.arange(len(b)) > i
            alive &= ~(later & (ious[i] > iou_threshold))
    return order[alive].astype(np.int64)
'''

YOLO_LOOPS = '''
import numpy as np

def decode_yolo(grid_output, conf_threshold):
    grid = np.asarray(grid_output, dtype=float)
    if grid.ndim != 3 or grid.shape[2] < 6:
        raise ValueError("grid_output must be (S_h, S_w, 5 + C) with C >= 1")
    s_h, s_w = grid.shape[:2]
    boxes, scores, classes = [], [], []
    for r in range(s_h):
        for c in range(s_w):
            p, tx, ty, w, h = grid[r, c, :5]
            q = grid[r, c, 5:]
            k = int(np.argmax(q))
            score = p * q[k]
            if score > conf_threshold:
                cx, cy = (c + tx) / s_w, (r + ty) / s_h
                boxes.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
                scores.append(score)
                classes.append(k)
    return (np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array(scores, dtype=np.float64),
            np.array(classes, dtype=np.int64))
'''

YOLO_FLAT = '''
import numpy as np

def decode_yolo(grid_output, conf_threshold):
    grid = np.asarray(grid_output, dtype=np.float64)
    if grid.ndim != 3 or grid.shape[-1] < 6:
        raise ValueError(f"bad grid shape {grid.shape}")
    s_h, s_w, d = grid.shape
    cells = grid.reshape(-1, d)
    r, c = np.divmod(np.arange(s_h * s_w), s_w)
    score = cells[:, 0] * cells[:, 5:].max(axis=1)
    keep = np.flatnonzero(score > conf_threshold)
    cx = (c[keep] + cells[keep, 1]) / s_w
    cy = (r[keep] + cells[keep, 2]) / s_h
    w, h = cells[keep, 3], cells[keep, 4]
    boxes = np.column_stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]).reshape(-1, 4)
    return boxes, score[keep], cells[keep, 5:].argmax(axis=1).astype(np.int64)
'''

UP_REPEAT = '''
import torch

def upsample_nearest(x, scale):
    if x.dim() != 4:
        raise ValueError("x must be (N, C, H, W)")
    if type(scale) is not int or scale < 1:
        raise ValueError("scale must be a positive int")
    return x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
'''

UP_INDEX = '''
import torch

def upsample_nearest(x, scale):
    if x.ndim != 4:
        raise ValueError("x must be (N, C, H, W)")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError("scale must be a positive int")
    h, w = x.shape[-2:]
    rows = torch.arange(h * scale, device=x.device) // scale
    cols = torch.arange(w * scale, device=x.device) // scale
    return x[:, :, rows[:, None], cols[None, :]]
'''

ED_PLAIN = '''
import torch
from torch import nn

class EncoderDecoder(nn.Module):
    """No BatchNorm: conv-ReLU blocks with additive skips."""

    def __init__(self, in_channels, num_classes, width=16):
        super().__init__()
        w = width
        self.stem = nn.Sequential(nn.Conv2d(in_channels, w, 3, padding=1), nn.ReLU())
        self.down1 = nn.Sequential(nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.ReLU())
        self.down2 = nn.Sequential(nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), nn.ReLU(),
                                   nn.Conv2d(4 * w, 4 * w, 3, padding=1), nn.ReLU())
        self.up1 = nn.Sequential(nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2), nn.ReLU())
        self.up2 = nn.Sequential(nn.ConvTranspose2d(2 * w, w, 2, stride=2), nn.ReLU())
        self.head = nn.Conv2d(w, num_classes, 3, padding=1)

    def forward(self, x):
        s0 = self.stem(x)
        s1 = self.down1(s0)
        z = self.down2(s1)
        return self.head(self.up2(self.up1(z) + s1) + s0)
'''

ED_UNET = '''
import torch
from torch import nn

def _double(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())

class EncoderDecoder(nn.Module):
    """U-Net style: concatenated skips, 4x4 transposed convolutions with padding 1."""

    def __init__(self, in_channels, num_classes, width=16):
        super().__init__()
        w = width
        self.enc0 = _double(in_channels, w)
        self.down1 = nn.Sequential(nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU())
        self.down2 = nn.Sequential(nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), nn.BatchNorm2d(4 * w), nn.ReLU())
        self.up1 = nn.ConvTranspose2d(4 * w, 2 * w, 4, stride=2, padding=1)
        self.dec1 = nn.Sequential(nn.BatchNorm2d(4 * w), nn.ReLU(), nn.Conv2d(4 * w, 2 * w, 3, padding=1), nn.ReLU())
        self.up2 = nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1)
        self.dec2 = nn.Sequential(nn.BatchNorm2d(2 * w), nn.ReLU(), nn.Conv2d(2 * w, num_classes, 1))

    def forward(self, x):
        e0 = self.enc0(x)
        e1 = self.down1(e0)
        z = self.down2(e1)
        d1 = self.dec1(torch.cat([self.up1(z), e1], dim=1))
        return self.dec2(torch.cat([self.up2(d1), e0], dim=1))
'''

CORRECT = {
    "loops": {
        "iou": IOU_PLAIN,
        "nms": NMS_LOOPS,
        "decode_yolo": YOLO_LOOPS,
        "upsample_nearest": UP_REPEAT,
        "EncoderDecoder": ED_PLAIN,
    },
    "vectorised": {
        "iou": IOU_NUMPY,
        "nms": NMS_MATRIX,
        "decode_yolo": YOLO_FLAT,
        "upsample_nearest": UP_INDEX,
        "EncoderDecoder": ED_UNET,
    },
}

# ----------------------------------------------------------------------------- mistakes
_IOU = '''
def iou(box_a, box_b):
    ax1, ay1, ax2, ay2 = (float(v) for v in box_a)
    bx1, by1, bx2, by2 = (float(v) for v in box_b)
    if ax2 < ax1 or ay2 < ay1 or bx2 < bx1 or by2 < by1:
        raise ValueError("boxes need x1 <= x2 and y1 <= y2")
    w = {w}
    h = {h}
    inter = {inter}
    area_a = {area_a}
    area_b = {area_b}
    union = {union}
    return {result}
'''

_IOU_DEFAULTS = {
    "w": "min(ax2, bx2) - max(ax1, bx1)",
    "h": "min(ay2, by2) - max(ay1, by1)",
    "inter": "max(0.0, w) * max(0.0, h)",
    "area_a": "(ax2 - ax1) * (ay2 - ay1)",
    "area_b": "(bx2 - bx1) * (by2 - by1)",
    "union": "area_a + area_b - inter",
    "result": "inter / union if union > 0 else 0.0",
}


def _iou(**changes):
    return _IOU.format(**{**_IOU_DEFAULTS, **changes})


_NMS = '''
import numpy as np

def _pair_iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0

def nms(boxes, scores, iou_threshold):
    boxes = np.asarray(boxes, dtype=float)
    scores = np.asarray(scores, dtype=float)
    if boxes.ndim != 2 or boxes.shape[-1] != 4 or scores.shape != (len(boxes),):
        raise ValueError("boxes must be (M, 4) and scores (M,)")
    order = {order}
    keep, dropped = [], set()
    for pos, i in enumerate(order):
        if i in dropped:
            continue
        keep.append({kept})
        for j in order[pos + 1:]:
            if j in dropped:
                continue
            if _pair_iou(boxes[i], boxes[j]) {op} iou_threshold:
                dropped.add(j)
    return {result}
'''

_NMS_DEFAULTS = {
    "order": "sorted(range(len(scores)), key=lambda i: (-scores[i], i))",
    "kept": "i",
    "op": ">",
    "result": "np.array(keep, dtype=np.int64)",
}


def _nms(**changes):
    return _NMS.format(**{**_NMS_DEFAULTS, **changes})


_YOLO = '''
import numpy as np

def decode_yolo(grid_output, conf_threshold):
    grid = np.asarray(grid_output, dtype=np.float64)
    if grid.ndim != 3 or grid.shape[-1] < 6:
        raise ValueError("grid_output must be (S_h, S_w, 5 + C)")
    s_h, s_w = grid.shape[:2]
    rows, cols = np.meshgrid(np.arange(s_h), np.arange(s_w), indexing="ij")
    cx = {cx}
    cy = {cy}
    w, h = grid[..., 3], grid[..., 4]
    classes = {classes}
    scores = {scores}
    boxes = {boxes}
    keep = {keep}
    return boxes[keep], scores[keep], classes[keep].astype(np.int64)
'''

_YOLO_DEFAULTS = {
    "cx": "(cols + grid[..., 1]) / s_w",
    "cy": "(rows + grid[..., 2]) / s_h",
    "classes": "grid[..., 5:].argmax(axis=-1)",
    "scores": "grid[..., 0] * grid[..., 5:].max(axis=-1)",
    "boxes": "np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)",
    "keep": "scores > conf_threshold",
}


def _yolo(**changes):
    return _YOLO.format(**{**_YOLO_DEFAULTS, **changes})


_UP = '''
import torch

def upsample_nearest(x, scale):
    if x.ndim != 4:
        raise ValueError("x must be (N, C, H, W)")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError("scale must be a positive int")
    n, c, h, w = x.shape
{body}
'''

_ED = '''
import torch
from torch import nn
import torch.nn.functional as F

class EncoderDecoder(nn.Module):
    def __init__(self, in_channels, num_classes, width=16):
        super().__init__()
        w = width
        act = {act}
        self.stem = nn.Sequential(nn.Conv2d(in_channels, w, 3, padding=1), nn.BatchNorm2d(w), act())
        self.down1 = nn.Sequential({down1}, nn.BatchNorm2d(2 * w), act())
        self.down2 = nn.Sequential({down2}, nn.BatchNorm2d(4 * w), act(),
                                   nn.Conv2d(4 * w, 4 * w, 3, padding=1), nn.BatchNorm2d(4 * w), act())
        self.up1 = nn.Sequential({up1}, nn.BatchNorm2d(2 * w), act())
        self.up2 = nn.Sequential({up2}, nn.BatchNorm2d(w), act())
        self.head = nn.Conv2d(w, {out}, 3, padding=1)
        {extra_init}

    def forward(self, x):
        s0 = self.stem(x)
        s1 = self.down1(s0)
        z = self.down2(s1)
        u1 = self.up1(z)
        {forward_tail}
'''

_ED_DEFAULTS = {
    "act": "nn.ReLU",
    "down1": "nn.Conv2d(w, 2 * w, 3, stride=2, padding=1)",
    "down2": "nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1)",
    "up1": "nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2)",
    "up2": "nn.ConvTranspose2d(2 * w, w, 2, stride=2)",
    "out": "num_classes",
    "forward_tail": "return self.head(self.up2(u1 + s1) + s0)",
    "extra_init": "pass",
}


def _ed(**changes):
    return _ED.format(**{**_ED_DEFAULTS, **changes})


MISTAKES = {
    "iou": {
        "negative overlaps not clamped to 0": _iou(inter="w * h"),
        "the union does not subtract the intersection": _iou(union="area_a + area_b"),
        "pixel convention (+1 on every side)": _iou(
            w="min(ax2, bx2) - max(ax1, bx1) + 1", h="min(ay2, by2) - max(ay1, by1) + 1",
            area_a="(ax2 - ax1 + 1) * (ay2 - ay1 + 1)", area_b="(bx2 - bx1 + 1) * (by2 - by1 + 1)"),
        "two empty boxes divide by zero": _iou(result="inter / union"),
        "divided by the smaller area instead of the union": _iou(union="min(area_a, area_b)"),
        "the enclosing box instead of the intersection (min and max swapped)": _iou(
            w="max(ax2, bx2) - min(ax1, bx1)", h="max(ay2, by2) - min(ay1, by1)"),
        "no ValueError for a bad box": '''
def iou(box_a, box_b):
    ax1, ay1, ax2, ay2 = box_a[0], box_a[1], box_a[2], box_a[3]
    bx1, by1, bx2, by2 = box_b[0], box_b[1], box_b[2], box_b[3]
    w = max(0.0, min(ax2, bx2) - max(ax1, bx1))
    h = max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = w * h
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return float(inter / union) if union > 0 else 0.0
''',
    },
    "nms": {
        "IoU >= threshold drops a box (it must be >)": _nms(op=">="),
        "boxes not sorted by score": _nms(order="list(range(len(scores)))"),
        "sorted by increasing score": _nms(order="sorted(range(len(scores)), key=lambda i: (scores[i], i))"),
        "unstable order for equal scores (argsort()[::-1])": _nms(order="list(np.argsort(scores)[::-1])"),
        "suppressed boxes still suppress others": '''
import numpy as np

def nms(boxes, scores, iou_threshold):
    boxes = np.asarray(boxes, dtype=float)
    scores = np.asarray(scores, dtype=float)
    if boxes.ndim != 2 or boxes.shape[-1] != 4 or scores.shape != (len(boxes),):
        raise ValueError("boxes must be (M, 4) and scores (M,)")
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes.T
    dropped = np.zeros(len(boxes), dtype=bool)
    for pos, i in enumerate(order):          # every box suppresses the later ones, dropped or not
        rest = order[pos + 1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        union = (x2[i] - x1[i]) * (y2[i] - y1[i]) + (x2[rest] - x1[rest]) * (y2[rest] - y1[rest]) - inter
        ious = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        dropped[rest[ious > iou_threshold]] = True
    return np.array([i for i in order if not dropped[i]], dtype=np.int64)
''',
        "positions in the sorted order returned instead of indices": _nms(kept="pos"),
        "returns a list": _nms(result="keep"),
        "empty input returns a float array": _nms(result="np.array(keep)"),
    },
    "decode_yolo": {
        "rows and columns swapped": _yolo(cx="(rows + grid[..., 1]) / s_w", cy="(cols + grid[..., 2]) / s_h"),
        "the cell index is not added": _yolo(cx="grid[..., 1] / s_w", cy="grid[..., 2] / s_h"),
        "boxes as (cx, cy, w, h)": _yolo(boxes="np.stack([cx, cy, w, h], axis=-1)"),
        "score ignores the class probability": _yolo(scores="grid[..., 0] + 0.0"),
        "score >= threshold": _yolo(keep="scores >= conf_threshold"),
        "class argmax over the wrong channels": _yolo(classes="grid[..., 4:].argmax(axis=-1)"),
        "both coordinates divided by S_h": _yolo(cx="(cols + grid[..., 1]) / s_h"),
    },
    "upsample_nearest": {
        "the image tiled instead of each pixel repeated": _UP.format(body="    return x.repeat(1, 1, scale, scale)"),
        "only the rows repeated": _UP.format(body="    return x.repeat_interleave(scale, dim=2)"),
        "uses F.interpolate": _UP.format(
            body="    return torch.nn.functional.interpolate(x, scale_factor=scale, mode='nearest')"),
        "a new float32 CPU tensor filled in a loop": _UP.format(body='''    out = torch.zeros(n, c, h * scale, w * scale)
    for i in range(h * scale):
        for j in range(w * scale):
            out[:, :, i, j] = x[:, :, i // scale, j // scale]
    return out'''),
        "NumPy round-trip": _UP.format(body='''    import numpy as np
    a = x.detach().cpu().numpy()
    return torch.from_numpy(np.repeat(np.repeat(a, scale, axis=2), scale, axis=3))'''),
        "scale axes expanded in the wrong place": _UP.format(
            body="    return x[:, :, None, :, None, :].expand(n, c, scale, h, scale, w).reshape(n, c, h * scale, w * scale)"),
        "no ValueError for a bad scale": '''
import torch

def upsample_nearest(x, scale):
    scale = int(scale)
    return x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
''',
    },
    "EncoderDecoder": {
        "the last upsampling is missing (output at H/2)": _ed(
            up2="nn.Conv2d(2 * w, w, 3, padding=1)", forward_tail="return self.head(self.up2(u1 + s1))"),
        "nn.Upsample instead of transposed convolutions": _ed(
            up1="nn.Upsample(scale_factor=2), nn.Conv2d(4 * w, 2 * w, 3, padding=1)",
            up2="nn.Upsample(scale_factor=2), nn.Conv2d(2 * w, w, 3, padding=1)"),
        "max-pooling instead of strided convolutions": _ed(
            down1="nn.MaxPool2d(2), nn.Conv2d(w, 2 * w, 3, padding=1)",
            down2="nn.MaxPool2d(2), nn.Conv2d(2 * w, 4 * w, 3, padding=1)"),
        "3x3 transposed convolutions without output_padding (one pixel short)": _ed(
            up1="nn.ConvTranspose2d(4 * w, 2 * w, 3, stride=2, padding=1)",
            up2="nn.ConvTranspose2d(2 * w, w, 3, stride=2, padding=1)",
            forward_tail="return self.head(self.up2(u1))"),
        "no activations (the whole network is linear)": _ed(act="nn.Identity"),
        "in_channels output channels instead of num_classes": _ed(out="in_channels"),
        "a fully-connected bottleneck sized for 32x32 inputs": _ed(
            extra_init="self.fc = nn.Linear(8 * 8, 8 * 8)  # mixes all positions of the 8x8 bottleneck",
            forward_tail="return self.head(self.up2(self.up1(self.fc(z.flatten(2)).view_as(z)) + s1) + s0)"),
    },
}
