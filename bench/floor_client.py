"""The floor: the least a stdlib client does. One urlopen, json.load, b64decode, write.

``python bench/floor_client.py BASE_URL SIZE N OUT_DIR``
"""

import base64
import json
import sys
import urllib.request
from pathlib import Path

base_url, size, n, out_dir = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
request = urllib.request.Request(
    f"{base_url}/images/generations",
    data=json.dumps({"model": "gpt-image-2", "prompt": "bench", "size": size, "n": n}).encode(),
    headers={"content-type": "application/json", "authorization": "Bearer bench"},
)
with urllib.request.urlopen(request) as response:
    document = json.load(response)
for index, item in enumerate(document["data"]):
    (out_dir / f"floor-{index}.png").write_bytes(base64.b64decode(item["b64_json"]))
