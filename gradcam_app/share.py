"""The "Copy link" button: copies the address the browser shows, which the page keeps equal to
what is on screen (view, image, class, display settings, presentation step).

The button is a tiny component (an iframe Streamlit serves from the page itself, no other host):
Streamlit has no widget that writes to the clipboard, and the link must be the browser's own
address, not one the server rebuilds (behind a proxy the server does not know its public address).
"""

from __future__ import annotations

import streamlit as st

_BUTTON = """
<style>
body {margin: 0; font-family: "Source Sans Pro", "Source Sans 3", system-ui, sans-serif;}
button {width: 100%; height: 40px; border: 1px solid rgba(49, 51, 63, 0.2); border-radius: 0.5rem;
  background: white; color: rgb(49, 51, 63); font-size: 16px; cursor: pointer;}
button:hover {border-color: rgb(255, 75, 75); color: rgb(255, 75, 75);}
</style>
<button id="copy" type="button" title="Copy a link that reopens this view, with its photo">🔗 Copy link</button>
<script>
const button = document.getElementById("copy");
button.addEventListener("click", async () => {
  const link = window.parent.location.href;
  try {
    await navigator.clipboard.writeText(link);
    button.textContent = "✓ Link copied";
  } catch (error) {
    window.prompt("Copy this link:", link);  // a browser that refuses the clipboard
  }
  window.parent.__gcCopiedLink = link;
  setTimeout(() => { button.textContent = "🔗 Copy link"; }, 2500);
});
</script>
"""


def copy_link_button() -> None:
    """Draw the Copy link button (in the current column or container)."""
    if hasattr(st, "iframe"):  # Streamlit 1.6x; components.v1.html is deprecated there
        st.iframe(_BUTTON, height=42, alt="Copy link")
    else:
        import streamlit.components.v1 as components

        components.html(_BUTTON, height=42)
