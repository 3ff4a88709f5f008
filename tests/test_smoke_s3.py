import pytest

from tests.support.s3 import S3Endpoint


@pytest.mark.integration
def test_moto_server_round_trip(s3_server: S3Endpoint) -> None:
    s3 = s3_server.client()
    s3.create_bucket(Bucket="smoke")
    s3.put_object(Bucket="smoke", Key="a/b.txt", Body=b"hello")
    assert s3.get_object(Bucket="smoke", Key="a/b.txt")["Body"].read() == b"hello"
