"""Convert the pinned MiniLM weights (safetensors) into an int8 ONNX graph for ONNX Runtime.

No torch: the BERT encoder is written out op by op with onnx.helper from the weights, then
ONNX Runtime's dynamic quantisation turns every MatMul weight into int8, per output channel.
The graph takes an additive attention bias instead of a padding mask, so several texts can be
packed into one row with a block-diagonal bias: each text then attends only to itself, which
gives each the same vector as encoding it alone, for the price of one pass.

Inputs:  input_ids [B, T] int64, position_ids [B, T] int64, attention_bias [B, 1, T, T] float
Output:  hidden [B, T, 384] (the last layer; pooling is done by the caller)
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Dict

import numpy as np

OPSET = 17
# Bumped whenever the graph written here changes: a model converted by another version is
# rebuilt at install and refused at load.
CONVERTER_VERSION = 2


def _weights(source_dir: Path) -> Dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(source_dir / "model.safetensors"))


def build_fp32(source_dir: Path, out: Path, fused_attention: bool = True) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    cfg = json.loads((source_dir / "config.json").read_text())
    if cfg.get("model_type") != "bert" or cfg.get("hidden_act") != "gelu":
        raise ValueError(f"{source_dir}/config.json: not the BERT shape this converter writes")
    w = _weights(source_dir)
    hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    head = hidden // heads
    eps = float(cfg["layer_norm_eps"])
    nodes, inits = [], []
    counter = [0]

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs, **attrs) -> str:
        counter[0] += 1
        out_name = f"{op.lower()}_{counter[0]}"
        nodes.append(helper.make_node(op, list(inputs), [out_name], **attrs))
        return out_name

    def linear(x: str, prefix: str) -> str:
        # torch Linear stores [out, in]; MatMul wants [in, out].
        wt = const(f"{prefix}.weight_t", w[f"{prefix}.weight"].T.astype(np.float32))
        b = const(f"{prefix}.bias", w[f"{prefix}.bias"].astype(np.float32))
        return node("Add", [node("MatMul", [x, wt]), b])

    def layer_norm(x: str, prefix: str) -> str:
        return node("LayerNormalization", [x, const(f"{prefix}.weight", w[f"{prefix}.weight"]),
                                           const(f"{prefix}.bias", w[f"{prefix}.bias"])],
                    axis=-1, epsilon=eps)

    words = node("Gather", [const("word_embeddings", w["embeddings.word_embeddings.weight"]), "input_ids"])
    positions = node("Gather", [const("position_embeddings", w["embeddings.position_embeddings.weight"]),
                                "position_ids"])
    # Every text is one segment: token type 0 throughout, folded into a constant.
    emb = node("Add", [node("Add", [words, positions]),
                       const("token_type_0", w["embeddings.token_type_embeddings.weight"][0])])
    h = layer_norm(emb, "embeddings.LayerNorm")

    if not fused_attention:
        split_shape = const("split_heads_shape", np.array([0, 0, heads, head], dtype=np.int64))
        merge_shape = const("merge_heads_shape", np.array([0, 0, hidden], dtype=np.int64))
        scale = const("attention_scale", np.array(1.0 / math.sqrt(head), dtype=np.float32))
    half = const("half", np.array(0.5, dtype=np.float32))
    one = const("one", np.array(1.0, dtype=np.float32))
    inv_sqrt2 = const("inv_sqrt2", np.array(1.0 / math.sqrt(2.0), dtype=np.float32))

    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        if fused_attention:
            # ONNX Runtime's MultiHeadAttention (com.microsoft) takes the additive bias as it
            # is: one op instead of ten per layer (the per-op overhead dominates short texts).
            context = node("MultiHeadAttention", [linear(h, f"{p}.attention.self.query"),
                                                  linear(h, f"{p}.attention.self.key"),
                                                  linear(h, f"{p}.attention.self.value"),
                                                  "", "", "attention_bias"],
                           domain="com.microsoft", num_heads=heads)
        else:
            q = node("Transpose", [node("Reshape", [linear(h, f"{p}.attention.self.query"), split_shape])],
                     perm=[0, 2, 1, 3])
            k = node("Transpose", [node("Reshape", [linear(h, f"{p}.attention.self.key"), split_shape])],
                     perm=[0, 2, 3, 1])
            v = node("Transpose", [node("Reshape", [linear(h, f"{p}.attention.self.value"), split_shape])],
                     perm=[0, 2, 1, 3])
            scores = node("Add", [node("Mul", [node("MatMul", [q, k]), scale]), "attention_bias"])
            probs = node("Softmax", [scores], axis=-1)
            context = node("Reshape", [node("Transpose", [node("MatMul", [probs, v])], perm=[0, 2, 1, 3]),
                                       merge_shape])
        attended = linear(context, f"{p}.attention.output.dense")
        h1 = layer_norm(node("Add", [attended, h]), f"{p}.attention.output.LayerNorm")
        inner = linear(h1, f"{p}.intermediate.dense")
        # Exact GELU, as BERT's "gelu": 0.5 x (1 + erf(x / sqrt 2)); ONNX Runtime fuses it.
        gelu = node("Mul", [node("Mul", [inner, half]),
                            node("Add", [node("Erf", [node("Mul", [inner, inv_sqrt2])]), one])])
        ffn = linear(gelu, f"{p}.output.dense")
        h = layer_norm(node("Add", [ffn, h1]), f"{p}.output.LayerNorm")

    nodes.append(helper.make_node("Identity", [h], ["hidden"]))
    graph = helper.make_graph(
        nodes, "minilm_l6",
        inputs=[helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["B", "T"]),
                helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["B", "T"]),
                helper.make_tensor_value_info("attention_bias", TensorProto.FLOAT, ["B", 1, "T", "T"])],
        outputs=[helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["B", "T", hidden])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                    helper.make_opsetid("com.microsoft", 1)],
                              producer_name="bot.encoder.graph")
    model.ir_version = 8
    if not fused_attention:
        onnx.checker.check_model(model)  # the checker does not know com.microsoft ops
    onnx.save(model, str(out))


def quantise(fp32: Path, out: Path) -> None:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # MatMul weights only: the embedding tables stay fp32 (a lookup, no arithmetic to save).
    # Shape inference does not know com.microsoft ops: every tensor here is float32.
    quantize_dynamic(str(fp32), str(out), per_channel=True, weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul"],
                     extra_options={"DefaultTensorType": TensorProto.FLOAT})
