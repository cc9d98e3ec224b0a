"""TF Serving itself serves a text classifier export over REST, when `tensorflow_model_server` is installed.

Install it (`apt-get install tensorflow-model-server`, or run the `tensorflow/serving` image) to
run this; otherwise it is skipped with that reason. The same check by hand:

    tensorflow_model_server --rest_api_port=8501 --model_name=clf --model_base_path=$PWD/saved_models/clf \
        --tensorflow_intra_op_parallelism=2 --tensorflow_inter_op_parallelism=1
    curl -d '{"instances": ["a great film", ""]}' localhost:8501/v1/models/clf:predict
"""

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request

import numpy as np
import pytest

from tests.export.conftest import BAD_INPUT, TEXTS

SERVER = shutil.which("tensorflow_model_server")
pytestmark = pytest.mark.skipif(SERVER is None, reason="tensorflow_model_server is not installed (TF Serving)")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url, body):
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:  # a 400 with {"error": ...} is an answer, not a crash
        return error.code, json.load(error)


def test_tf_serving_answers_the_rest_api(text_classifier_export, fresh_process):
    base = os.path.dirname(text_classifier_export[2][False])
    port = _free_port()
    server = subprocess.Popen([SERVER, f"--rest_api_port={port}", "--port=0", "--model_name=clf",
                               f"--model_base_path={base}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1/models/clf:predict"
    try:
        for _ in range(120):  # until the model is loaded
            time.sleep(0.5)
            try:
                status, answer = _post(url, {"instances": TEXTS})
                if status == 200:
                    break
            except OSError:
                continue
        assert status == 200, answer
        want = fresh_process["answers"]["text"]["probabilities"]
        np.testing.assert_allclose([row["probabilities"] for row in answer["predictions"]], want, atol=1e-5)
        status, answer = _post(url, {"instances": BAD_INPUT})
        assert status == 200 and len(answer["predictions"]) == len(BAD_INPUT), answer
        status, answer = _post(url, {"instances": []})
        assert server.poll() is None, "the server must survive every request"
        status, answer = _post(url, {"instances": ["still serving"]})
        assert status == 200, answer
    finally:
        server.terminate()
        server.wait(timeout=30)
