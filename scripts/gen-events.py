#!/usr/bin/env python3
"""Writes the sample events in events/ from events/deploy.json (the demo request).

Each sample is the envelope a real trigger sends, with the demo request inside; tests load every
one of them. Run again after changing deploy.json: python3 scripts/gen-events.py
"""
import base64
import json
import os

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "events")
req = json.load(open(os.path.join(root, "deploy.json")))
cert, key = req["certificate"], req["private_key"]
small = {"domains": ["www.example.com", "img.example.com"], "certificate": cert,
         "private_key": key, "options": {"dry_run": False}}
body = json.dumps(small)
sig_header = "t=1764300000,v1=0000000000000000000000000000000000000000000000000000000000000000"


def write(name, event):
    with open(os.path.join(root, name), "w") as f:
        json.dump(event, f, indent=2)
        f.write("\n")


write("apigw-v1.json", {
    "resource": "/deploy", "path": "/deploy", "httpMethod": "POST",
    "headers": {"Content-Type": "application/json", "Host": "abc123.execute-api.eu-west-1.amazonaws.com",
                "X-Deploy-Signature": sig_header},
    "multiValueHeaders": {"Content-Type": ["application/json"],
                          "X-Deploy-Signature": [sig_header]},
    "queryStringParameters": None, "multiValueQueryStringParameters": None,
    "pathParameters": None, "stageVariables": None,
    "requestContext": {"accountId": "123456789012", "resourceId": "r1", "stage": "prod",
                       "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "resourcePath": "/deploy",
                       "httpMethod": "POST", "apiId": "abc123", "protocol": "HTTP/1.1",
                       "identity": {"sourceIp": "203.0.113.7", "userAgent": "curl/8.0"}},
    "body": body, "isBase64Encoded": False,
})

v2_context = {"accountId": "123456789012", "apiId": "abc123",
              "domainName": "abc123.execute-api.eu-west-1.amazonaws.com", "domainPrefix": "abc123",
              "http": {"method": "POST", "path": "/deploy", "protocol": "HTTP/1.1",
                       "sourceIp": "203.0.113.7", "userAgent": "curl/8.0"},
              "requestId": "JKJaXmPLvHcESHA=", "routeKey": "POST /deploy", "stage": "$default",
              "time": "28/Nov/2026:03:00:00 +0000", "timeEpoch": 1764298800000}
write("apigw-v2.json", {
    "version": "2.0", "routeKey": "POST /deploy", "rawPath": "/deploy", "rawQueryString": "",
    "headers": {"content-type": "application/json", "x-deploy-signature": sig_header},
    "requestContext": v2_context,
    "body": base64.b64encode(body.encode()).decode(), "isBase64Encoded": True,
})

url_context = dict(v2_context, domainName="abcdefghij.lambda-url.eu-west-1.on.aws",
                   domainPrefix="abcdefghij", routeKey="$default",
                   http=dict(v2_context["http"], path="/"))
write("function-url.json", {
    "version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "",
    "headers": {"content-type": "application/json", "authorization": "Bearer example-webhook-token"},
    "requestContext": url_context, "body": body, "isBase64Encoded": False,
})

write("destination.json", {
    "version": "1.0", "timestamp": "2026-11-28T03:00:00.000Z",
    "requestContext": {"requestId": "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
                       "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:certbot-lambda:$LATEST",
                       "condition": "Success", "approximateInvokeCount": 1},
    "requestPayload": {"domains": ["example.com", "*.example.com"]},
    "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
    "responsePayload": {"domains": ["www.example.com", "img.example.com"], "certificate": cert,
                        "private_key": key, "issuer": "Let's Encrypt", "expires": "2027-02-26"},
})

write("step-functions.json", {
    "ExecutedVersion": "$LATEST",
    "Payload": {"domains": ["www.example.com", "img.example.com"], "certificate": cert,
                "private_key": key, "renewed": True},
    "SdkHttpMetadata": {"HttpStatusCode": 200}, "SdkResponseMetadata": {"RequestId": "88fba57b"},
    "StatusCode": 200,
})

write("eventbridge-schedule.json", {
    "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
    "source": "aws.events", "account": "123456789012", "time": "2026-11-28T03:00:00Z",
    "region": "eu-west-1", "resources": ["arn:aws:events:eu-west-1:123456789012:rule/cdn-cert-deploy-daily"],
    "detail": {},
})

write("scheduler.json", {
    "version": "0", "id": "6b1f2a4e-1b7e-4c1a-9a7e-2f0f5d4e3c2b", "detail-type": "Scheduled Event",
    "source": "aws.scheduler", "account": "123456789012", "time": "2026-11-28T03:00:00Z",
    "region": "eu-west-1", "resources": ["arn:aws:scheduler:eu-west-1:123456789012:schedule/default/cdn-cert-deploy"],
    "detail": "{}",
})

write("functiongraph-timer.json", {
    "version": "v1.0", "time": "2026-11-28T03:00:00+08:00", "trigger_type": "TIMER",
    "trigger_name": "deploy-daily",
    "user_event": json.dumps({"domains": ["www.example.com", "img.example.com"],
                              "options": {"dry_run": True}}),
})

write("functiongraph-apig.json", {
    "body": base64.b64encode(body.encode()).decode(),
    "requestContext": {"apiId": "bc1dcffd-aa35-474d-897c-d53425a4c08e", "requestId": "11cdcdcf33949dc6d722640a13091c77",
                       "stage": "RELEASE"},
    "queryStringParameters": {}, "httpMethod": "POST", "pathParameters": {},
    "headers": {"content-type": "application/json", "authorization": "Bearer example-webhook-token",
                "host": "bc1dcffd.apig.cn-north-4.huaweicloudapis.com"},
    "path": "/deploy", "isBase64Encoded": True,
})

write("certimate.json", {"name": "example.com;*.example.com", "cert": cert, "privkey": key})
write("certimate-v02.json", {"domain": "example.com", "certificate": cert, "privateKey": key,
                             "variables": {"CDN": "huawei"}})
write("certd.json", {"crt": cert, "key": key, "domains": "www.example.com,img.example.com"})

# A request whose account's keys live in a secret (huawei_credentials), and the Step Functions
# workflow's input for three accounts (template.yaml DeployWorkflow).
write("huawei-credentials.json", {
    "domains": ["www.example.com", "img.example.com"],
    "certificate_source": {"type": "secretsmanager", "secret_id": "certs/example.com"},
    "huawei_credentials": {"type": "secretsmanager", "secret_id": "cdn-accounts/team-a"},
})
write("workflow-input.json", {
    "accounts": [
        {"name": "team-a", "request": {
            "match": "certsan",
            "certificate_source": {"type": "secretsmanager", "secret_id": "certs/example.com"},
            "huawei_credentials": {"type": "secretsmanager", "secret_id": "cdn-accounts/team-a"}}},
        {"name": "team-b", "request": {
            "domains": ["www.example.org"],
            "certificate_source": {"type": "secretsmanager", "secret_id": "certs/example.org"},
            "huawei_credentials": {"type": "ssm", "parameter": "/cdn-accounts/team-b"}}},
        {"name": "team-c", "request": {
            "domains": ["cdn.example.net"], "scm_certificate_id": "scs1700000000000",
            "huawei_credentials": {"type": "secretsmanager", "secret_id": "cdn-accounts/team-c"}}},
    ],
    "max_attempts": 4,
})
