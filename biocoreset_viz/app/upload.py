"""The highlight upload's file picker, which refuses a file over the limit in the browser.

Bokeh's own file input reads any file into one websocket message; a file over
the server's message limit (about 20 MB) then ends the session without a word.
:class:`LimitedFileInput` checks the size in the browser first: a file over
:data:`~biocoreset_viz.app.guards.MAX_UPLOAD_BYTES` is never read nor sent, only
its name and size are (as :attr:`~LimitedFileInput.refused`), so the page says
why, in the same words as the server's own check. An accepted file arrives as
base64 text in :attr:`~LimitedFileInput.value`; :meth:`LimitedFileInput.data`
decodes it.
"""

from __future__ import annotations

import base64
import binascii

import param
from panel.custom import JSComponent

from biocoreset_viz.app.guards import MAX_UPLOAD_BYTES, UPLOAD_ACCEPT, upload_too_large
from biocoreset_viz.errors import InputError


class LimitedFileInput(JSComponent):
    """A file input that sends a file only when it is at most :attr:`max_bytes` long."""

    value = param.String(default=None, allow_None=True, doc="The chosen file, base64-encoded.")
    filename = param.String(default="", doc="The chosen file's name.")
    accept = param.String(default=UPLOAD_ACCEPT, doc="File types the picker offers.")
    max_bytes = param.Integer(default=MAX_UPLOAD_BYTES, doc="The largest file sent.")
    refused = param.String(
        default="", doc="NAME, SIZE and a time of the last file refused in the browser (tabs)."
    )

    _esm = """
export function render({ model }) {
  const input = document.createElement("input");
  input.type = "file";
  input.accept = model.accept;
  input.addEventListener("change", () => {
    const file = input.files && input.files[0];
    if (!file) return;
    input.value = "";  // the same file can be chosen again
    if (file.size > model.max_bytes) {
      model.refused = `${file.name}\\t${file.size}\\t${Date.now()}`;
      return;
    }
    const reader = new FileReader();
    reader.onload = () => {
      const text = String(reader.result);
      model.filename = file.name;
      model.value = null;  // so that the same content counts as a new upload
      model.value = text.slice(text.indexOf(",") + 1);
    };
    reader.readAsDataURL(file);
  });
  return input;
}
"""

    def data(self) -> bytes:
        """The chosen file's bytes.

        Raises:
            InputError: not valid base64 (not sent by this component).
        """
        try:
            return base64.b64decode(self.value or "", validate=True)
        except (binascii.Error, ValueError):
            raise InputError(
                "the upload arrived damaged; choose the file again", path=self.filename or "upload"
            ) from None

    def refusal(self) -> InputError | None:
        """Why the browser refused the last file it did not send (``None``: none refused)."""
        name, _, rest = self.refused.partition("\t")
        size = rest.partition("\t")[0]
        if not name or not size.isdigit():
            return None
        return upload_too_large(name, int(size), self.max_bytes)
