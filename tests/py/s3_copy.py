"""Copy everything under an S3 prefix to a local folder, with pyarrow's S3 client (not
retain's), so the tests read what retain wrote to S3 with an independent reader.

usage: s3_copy.py BUCKET/PREFIX LOCAL_DIR

Connection settings come from RETAIN_TEST_S3_ENDPOINT / _ACCESS_KEY / _SECRET_KEY /
_REGION (set by `cargo xtask test`). Prints the copied keys, relative to the prefix, as a
JSON list.
"""
import json
import os
import sys
from urllib.parse import urlparse

import pyarrow.fs as fs


def main():
    src, dest = sys.argv[1], sys.argv[2]
    endpoint = urlparse(os.environ["RETAIN_TEST_S3_ENDPOINT"])
    s3 = fs.S3FileSystem(
        access_key=os.environ["RETAIN_TEST_S3_ACCESS_KEY"],
        secret_key=os.environ["RETAIN_TEST_S3_SECRET_KEY"],
        region=os.environ.get("RETAIN_TEST_S3_REGION", "us-east-1"),
        endpoint_override=endpoint.netloc,
        scheme=endpoint.scheme,
    )
    infos = s3.get_file_info(fs.FileSelector(src, recursive=True))
    keys = sorted(i.path[len(src) + 1 :] for i in infos if i.type == fs.FileType.File)
    local = fs.LocalFileSystem()
    for key in keys:
        target = os.path.join(dest, key)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        fs.copy_files(f"{src}/{key}", target, source_filesystem=s3, destination_filesystem=local)
    json.dump(keys, sys.stdout)


if __name__ == "__main__":
    main()
