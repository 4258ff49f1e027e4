"""The official openai SDK doing the same job: generate, b64decode, write.

``python bench/openai_client.py BASE_URL SIZE N OUT_DIR``
"""

import base64
import sys
from pathlib import Path

from openai import OpenAI

base_url, size, n, out_dir = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
client = OpenAI(api_key="bench", base_url=base_url, max_retries=0)
result = client.images.generate(model="gpt-image-2", prompt="bench", size=size, n=n)
for index, item in enumerate(result.data):
    (out_dir / f"sdk-{index}.png").write_bytes(base64.b64decode(item.b64_json))
