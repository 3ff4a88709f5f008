import boto3
import pytest

from tests.support.s3 import S3Endpoint


@pytest.mark.integration
def test_moto_server_round_trip(s3_server: S3Endpoint) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_server.url,
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key=s3_server.secret_key,
        region_name=s3_server.region,
    )
    s3.create_bucket(Bucket="smoke")
    s3.put_object(Bucket="smoke", Key="a/b.txt", Body=b"hello")
    assert s3.get_object(Bucket="smoke", Key="a/b.txt")["Body"].read() == b"hello"
