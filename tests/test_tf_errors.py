"""helpers.tf_errors: the stable parts of a TensorFlow I/O error, as lesson 05 prints them."""

import pytest

from helpers import tf_errors


def test_describe_error_picks_the_stable_parts():
    save = RuntimeError(
        "Traceback ...\n2 root error(s) found.\n  (0) NOT_FOUND: From /job:worker/replica:0/task:0:\n"
        "no_io_device/variables/variables_temp; No such file or directory\n\t [[{{node SaveV2}}]]\n"
        "Additional GRPC error information from remote target /job:worker while calling /tensorflow.eager...\n"
    )
    summary = tf_errors.describe_error(save)
    assert summary == (
        "RuntimeError",
        "no_io_device/variables/variables_temp; No such file or directory",
        "SaveV2",
        "/job:worker",
        None,
    )
    assert str(summary) == "RuntimeError: no_io_device/variables/variables_temp; No such file or directory"
    load = FileNotFoundError(
        "Unsuccessful TensorSliceReader constructor: Failed to find any matching files for saved_model/variables/"
        "variables\n You may be trying to load on a different device from the computational device. Consider "
        "setting the `experimental_io_device` option in `tf.saved_model.LoadOptions` to the io_device such as "
        "'/job:localhost'.\nmore details"
    )
    summary = tf_errors.describe_error(load)
    assert summary.reason == "Failed to find any matching files for saved_model/variables/variables"
    assert (
        summary.hint.startswith("Consider setting the `experimental_io_device` option") and "more" not in summary.hint
    )
    assert summary.op is None and summary.job is None


def test_error_line_is_one_stable_line():
    err = ValueError("File not found: filepath=/tmp/x/y/model.keras. Please ensure\nmore")
    assert tf_errors.error_line(err) == "ValueError: File not found: filepath=<path>. Please ensure"
    node = "{{function_node __wrapped__RestoreV2_device_/job:localhost/replica:0/task:0/device:CPU:0}} "
    err = OSError(node + "TensorBundle at /tmp/a/variables/variables shard 0: Checksum does not match")
    assert tf_errors.error_line(err) == "OSError: TensorBundle at <path> shard 0: Checksum does not match"
    traced = ValueError(
        "in user code:\n\n    File /x/y/core.py, line 3\n\n    ValueError: tf.function only supports singleton "
        "tf.Variables created on the first call. Make sure the tf.Variable is only created once. See https://x/y\n"
    )
    expected = "ValueError: tf.function only supports singleton tf.Variables created on the first call."
    assert tf_errors.error_line(traced, line="last") == expected
    assert tf_errors.error_line(traced, line="last", limit=10) == expected[:10]
    assert tf_errors.error_line(KeyError()) == "KeyError: "


def test_error_line_rejects_bad_options():
    with pytest.raises(ValueError, match='line must be "first" or "last"'):
        tf_errors.error_line(ValueError("x"), line="middle")
    with pytest.raises(ValueError, match="limit must be a positive integer"):
        tf_errors.error_line(ValueError("x"), limit=0)


def test_both_benchmarks_use_it():
    from benchmarks import checkpoint, kill_matrix

    err = ValueError("first /a/b/c\nlast /d/e/f")
    assert kill_matrix.error_line(err) == tf_errors.error_line(err) == "ValueError: first <path>"
    assert (
        checkpoint.error_summary(err) == tf_errors.error_line(err, line="last", limit=300) == "ValueError: last <path>"
    )
