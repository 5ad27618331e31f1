"""helpers.tf_errors: the stable parts of a TensorFlow I/O error, as lesson 05 prints them."""

from helpers import tf_errors, tf_server


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


def test_lesson_05_reaches_it_through_tf_server():
    assert tf_server.describe_error is tf_errors.describe_error and tf_server.ErrorSummary is tf_errors.ErrorSummary
