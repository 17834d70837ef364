#!/usr/bin/env python3
"""Convert the MTCNN weights of the PyPI package `mtcnn` 1.0.0 to one safetensors file.

Run once; the result, weights/mtcnn.safetensors, is committed and embedded in the crate.

    pip download mtcnn==1.0.0 --no-deps -d /tmp/mtcnn && unzip -o /tmp/mtcnn/*.whl -d /tmp/mtcnn
    pip install numpy joblib lz4 safetensors
    python weights/convert.py /tmp/mtcnn/mtcnn/assets/weights weights/mtcnn.safetensors [--check mtcnn_weights.npz]

Each `<net>.lz4` is an LZ4 frame around a joblib pickle of the Keras `model.get_weights()` list. The list has no
names, so they come from the order in which `mtcnn/network/<net>.py` creates its layers (listed below). Layouts are
kept exactly as Keras has them (conv HWIO, dense [in, out], PReLU alpha [1,1,C] or [C]); the Rust loader checks
every name and shape. `--check` compares with another export (an npz with the same names) bit for bit.
"""
import sys

import joblib  # also reads the .lz4 frame, through the lz4 package
import numpy as np
from safetensors.numpy import save_file

# (layer attribute, parameters) in the order of mtcnn/network/<net>.py __init__, i.e. of get_weights().
CONV = ("weight", "bias")
LAYERS = {
    "pnet": [("conv1", CONV), ("prelu1", ("alpha",)), ("conv2", CONV), ("prelu2", ("alpha",)),
             ("conv3", CONV), ("prelu3", ("alpha",)), ("conv4_1", CONV), ("conv4_2", CONV)],
    "rnet": [("conv1", CONV), ("prelu1", ("alpha",)), ("conv2", CONV), ("prelu2", ("alpha",)),
             ("conv3", CONV), ("prelu3", ("alpha",)), ("fc4", CONV), ("prelu4", ("alpha",)),
             ("fc5_1", CONV), ("fc5_2", CONV)],
    "onet": [("conv1", CONV), ("prelu1", ("alpha",)), ("conv2", CONV), ("prelu2", ("alpha",)),
             ("conv3", CONV), ("prelu3", ("alpha",)), ("conv4", CONV), ("prelu4", ("alpha",)),
             ("fc5", CONV), ("prelu5", ("alpha",)), ("fc6_1", CONV), ("fc6_2", CONV), ("fc6_3", CONV)],
}


def convert(src_dir):
    tensors = {}
    for net, layers in LAYERS.items():
        arrays = joblib.load(f"{src_dir}/{net}.lz4")
        names = [f"{net}.{layer}.{p}" for layer, params in layers for p in params]
        if len(arrays) != len(names):
            sys.exit(f"{net}: expected {len(names)} arrays, found {len(arrays)}")
        for name, a in zip(names, arrays):
            if a.dtype != np.float32:
                sys.exit(f"{name}: expected float32, found {a.dtype}")
            tensors[name] = np.ascontiguousarray(a)
    return tensors


def main(argv):
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--check"):
        sys.exit(__doc__)
    tensors = convert(argv[0])
    if len(argv) == 4:
        with np.load(argv[3]) as other:
            assert sorted(other.files) == sorted(tensors), "names differ"
            for k in other.files:
                assert other[k].shape == tensors[k].shape and np.array_equal(other[k], tensors[k]), k
        print(f"identical to {argv[3]}: {len(tensors)} tensors")
    meta = {"source": "PyPI mtcnn 1.0.0, mtcnn/assets/weights/{pnet,rnet,onet}.lz4",
            "license": "MIT (Kaipeng Zhang 2016; Ivan de Paz Centeno 2019-2024)",
            "layout": "Keras: conv HWIO, dense [in,out], PReLU alpha [1,1,C] or [C]"}
    save_file(tensors, argv[1], metadata=meta)
    print(f"wrote {argv[1]}: {len(tensors)} tensors, {sum(t.size for t in tensors.values())} float32 values")


if __name__ == "__main__":
    main(sys.argv[1:])
