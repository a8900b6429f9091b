"""The lines a person reads when the engine fails, from engine transcripts as the CLI prints them."""

from __future__ import annotations

from mailbox_iac.failures import TracebackFilter, diagnostics

PROVIDER_TRACEBACK = """code: 255
 stdout: Updating (globex):
 +  pulumi-python:dynamic/hostwinds:Instance server-mx1 creating (0s) error: Traceback (most recent call last):
Diagnostics:
  pulumi:pulumi:Stack (mailbox-iac-globex):
    warning: using pulumi-resource-cloudflare from $PATH at /x/pulumi-resource-cloudflare
    error: update failed
    error: Resource monitor has terminated, shutting down

  pulumi-python:dynamic/hostwinds:Instance (server-mx1):
    error: Traceback (most recent call last):
      File "/venv/lib/python3.11/site-packages/pulumi/dynamic/__main__.py", line 84, in wrapper
        return fn(self, request, context)
               ^^^^^^^^^^^^^^^^^^^^^^^^^^
      File "/work/providers/hostwinds_dynamic/client.py", line 96, in unwrap
        raise classify(action, str(item.get("message") or "unspecified error"))
    hostwinds_dynamic.client.HostwindsInputError: Hostwinds add_instance: SSH key mailbox-iac not found.

  cloudflare:index/dnsRecord:DnsRecord (dns-TXT-_dmarc.globex-mail.com):
    error: HTTP 403: Authentication error (10000)

Resources:
    127 unchanged
    3 errored

 stderr: """

LOCKED = """code: 255
 stdout:
 stderr: error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.
  file:///state/backend/.pulumi/locks/organization/mailbox-iac/demo/1.json: created by root@vm (pid 4242) at 2026-12-02T13:00:00Z
"""


def test_each_failed_resource_with_its_error_and_no_traceback_frames() -> None:
    assert diagnostics(PROVIDER_TRACEBACK) == [
        "pulumi-python:dynamic/hostwinds:Instance (server-mx1): hostwinds_dynamic.client.HostwindsInputError: "
        "Hostwinds add_instance: SSH key mailbox-iac not found.",
        "cloudflare:index/dnsRecord:DnsRecord (dns-TXT-_dmarc.globex-mail.com): HTTP 403: Authentication error (10000)",
    ]


def test_an_engine_error_keeps_the_line_that_says_what_happened() -> None:
    assert diagnostics(LOCKED) == [
        "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or "
        "delete the lock file with `pulumi cancel`.",
        "file:///state/backend/.pulumi/locks/organization/mailbox-iac/demo/1.json: created by root@vm (pid 4242) "
        "at 2026-12-02T13:00:00Z",
    ]


def test_an_empty_failure_still_says_something() -> None:
    assert diagnostics("") == []
    assert diagnostics("code: 1\n stdout: \n stderr: boom\n") == ["boom"]


def test_live_output_keeps_the_exception_line_of_a_provider_traceback() -> None:
    live = TracebackFilter()
    shown = [out for line in PROVIDER_TRACEBACK.splitlines() if (out := live.feed(line)) is not None]
    assert not any('File "' in line or "^^^" in line or "Traceback" in line for line in shown)
    assert (
        "    error: hostwinds_dynamic.client.HostwindsInputError: Hostwinds add_instance: SSH key mailbox-iac not found."
        in shown
    )
    assert (
        " +  pulumi-python:dynamic/hostwinds:Instance server-mx1 creating (0s) error: (see the diagnostics below)"
        in shown
    )
    assert "    error: HTTP 403: Authentication error (10000)" in shown and "    127 unchanged" in shown
