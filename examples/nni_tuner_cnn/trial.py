"""One NNI trial: build the proposed CNN, train it briefly on the bundled CIFAR-10 sample, report accuracy (%).

python trial.py --params '{"depth": 3, "width": 16, "kernel": 3, "act": "relu"}'   # outside NNI
"""

from __future__ import annotations

import argparse
import json

import nni
import torch
from cnn_space import build, train, validation_split

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--steps", type=int, default=200, help="SGD steps")
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--val", type=int, default=500, help="training images held out for validation")
ap.add_argument("--params", default=None, help="JSON parameters instead of NNI's")
args = ap.parse_args()
torch.set_num_threads(1)
params = json.loads(args.params) if args.params else nni.get_next_parameter()
accuracy = train(build(params), validation_split(args.val), args.steps, args.batch, seed=0)
nni.report_final_result(accuracy)
