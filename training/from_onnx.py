"""Read a PyTorch `StaffModel` back out of an exported model folder (encoder + decoder-step ONNX).

Training can then continue from a shipped model when its checkpoints are gone
(`train.py --init models/etude-omr-v1`). The exporter leaves named initializers for biases,
layer norms and embeddings; linear weights are anonymous `MatMul` inputs (stored transposed),
found through the `Add` of their named bias; convolutions come with their batch norm folded in.
A folded convolution is restored as that convolution and a batch norm that reproduces it
exactly in inference mode, with statistics measured on real staves so that training-mode batch
statistics start close to what the shipped model computes.

The exporter merges initializers that are exactly equal (untrained layer norms, say); such a
model is refused with the names that could not be found. Trained weights are never equal.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import Tensor, nn

from recognition.manifest import MANIFEST_NAME
from recognition.vocabulary import TOKENS
from training.model import ModelConfig, StaffModel


def _initializers(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in graph.initializer}


def _linear_weights(graph: onnx.GraphProto, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`MatMul(x, W^T) -> Add(., model.<name>.bias)` gives `model.<name>.weight`. In a graph
    quantised by training/quantize.py the MatMul is `MatMulInteger -> Cast -> Mul(scale)`, and
    the weight comes back dequantised (within half a quantisation step of the original)."""
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def through(output: str, ops: tuple[str, ...]) -> str:
        for op in ops:
            following = consumers.get(output, [])
            if len(following) != 1 or following[0].op_type != op:
                return ""
            output = following[0].output[0]
        return output

    weights: dict[str, np.ndarray] = {}
    for node in graph.node:
        if len(node.input) < 2 or node.input[1] not in values:
            continue
        if node.op_type == "MatMul":
            weight, output = values[node.input[1]], node.output[0]
        elif node.op_type == "MatMulInteger":
            stem = node.input[1].removesuffix("_quantized")
            quantized = values[node.input[1]].astype(np.float32) - values[stem + "_zero_point"]
            weight, output = quantized * values[stem + "_scale"], through(node.output[0], ("Cast", "Mul"))
        else:
            continue
        for add in consumers.get(output, []):
            bias = next((n for n in add.input if n.endswith(".bias") and n in values), None)
            if add.op_type == "Add" and bias is not None:
                weights[bias.removesuffix(".bias") + ".weight"] = weight.T
    return weights


Folded = list[tuple[np.ndarray, np.ndarray]]  # (weight, bias) of each convolution with its batch norm


def _folded_convolutions(graph: onnx.GraphProto, values: dict[str, np.ndarray]) -> Folded:
    return [(values[n.input[1]], values[n.input[2]]) for n in graph.node if n.op_type == "Conv"]


def _conv_norm_pairs(model: StaffModel) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    """Convolutions with their batch norm, in the order the forward pass runs them (which is also
    the order the backbone registers them: stem, then conv1, conv2, skip of each block)."""
    convs = [m for m in model.backbone.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in model.backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    return list(zip(convs, norms, strict=True))


def _set_norm(norm: nn.BatchNorm2d, mean: Tensor, var: Tensor, weight: Tensor, bias: Tensor) -> None:
    norm.load_state_dict(
        {"running_mean": mean, "running_var": var, "weight": weight, "bias": bias}, strict=False
    )


def _config(
    manifest: dict,
    encoder: dict[str, np.ndarray],
    decoder: dict[str, np.ndarray],
    folded: Folded,
) -> ModelConfig:
    d_model = decoder["model.embed.weight"].shape[1]
    block_outputs = [folded[1 + 3 * i][0].shape[0] for i in range((len(folded) - 1) // 3)]
    return ModelConfig(
        vocab_size=len(TOKENS),
        height=manifest["input_height"],
        d_model=d_model,
        heads=manifest["heads"],
        encoder_layers=len({n.split(".")[2] for n in encoder if n.startswith("model.encoder.")}),
        decoder_layers=manifest["decoder_layers"],
        ff=decoder["model.decoder.0.ff.0.bias"].shape[0],
        max_tokens=decoder["model.pos.weight"].shape[0],
        channels=(folded[0][0].shape[0], *block_outputs),
    )


def load_exported(folder: Path, calibration: Tensor | None = None) -> StaffModel:
    """The model of an exported folder; `calibration` (B, 1, H, W) staves set batch-norm statistics."""
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    if manifest["vocabulary"] != list(TOKENS):
        raise SystemExit(f"{folder} was exported with another vocabulary than this checkout's")
    encoder_graph = onnx.load(str(folder / manifest["files"]["encoder"])).graph
    decoder_graph = onnx.load(str(folder / manifest["files"]["decoder_step"])).graph
    enc_values, dec_values = _initializers(encoder_graph), _initializers(decoder_graph)
    folded = _folded_convolutions(encoder_graph, enc_values)
    cfg = _config(manifest, enc_values, dec_values, folded)
    model = StaffModel(cfg)

    named = {**enc_values, **dec_values}
    named.update(_linear_weights(encoder_graph, enc_values))
    named.update(_linear_weights(decoder_graph, dec_values))
    state = model.state_dict()
    missing = []
    for key in state:
        source = named.get("model." + key)
        if source is not None:
            state[key] = torch.from_numpy(np.array(source)).reshape(state[key].shape)
        elif key != "head.weight" and (not key.startswith("backbone.") or key.startswith("backbone.proj")):
            missing.append(key)  # the head is tied to the embedding; convolutions come below
    if missing:
        raise SystemExit(f"{folder}: no weights found for {missing}")
    model.load_state_dict(state)

    pairs = _conv_norm_pairs(model)
    if len(pairs) != len(folded):
        raise SystemExit(f"{folder}: {len(folded)} convolutions in the graph, {len(pairs)} in the model")
    for (conv, norm), (weight, bias) in zip(pairs, folded, strict=True):
        conv.weight.data = torch.from_numpy(weight.copy())
        ones = torch.ones(len(bias))
        _set_norm(norm, torch.zeros(len(bias)), ones - norm.eps, ones, torch.from_numpy(bias.copy()))
    if calibration is not None:
        _calibrate(model, pairs, calibration)
    model.eval()
    return model


@torch.no_grad()
def _calibrate(model: StaffModel, pairs: list[tuple[nn.Conv2d, nn.BatchNorm2d]], images: Tensor) -> None:
    """Give each batch norm the mean/variance its convolution produces on real staves, keeping the
    inference-mode output identical: y = gamma * (conv - mean) / sqrt(var + eps) + beta with
    gamma = sqrt(var + eps) and beta = mean + folded bias."""
    model.eval()
    stats: dict[nn.Conv2d, Tensor] = {}
    hooks = [
        conv.register_forward_hook(lambda m, _i, out: stats.__setitem__(m, out.detach())) for conv, _ in pairs
    ]
    model.backbone(images)
    for h in hooks:
        h.remove()
    for conv, norm in pairs:
        out = stats[conv]
        mean = out.mean(dim=(0, 2, 3))
        var = out.var(dim=(0, 2, 3), unbiased=False)
        _set_norm(norm, mean, var, torch.sqrt(var + norm.eps), mean + norm.bias.data)
