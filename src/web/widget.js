// clerk's web chat, embedded in a store's page. Paste where the page ends:
//   <script src="https://CLERK-HOST/chat/widget.js" async></script>
// For a signed-in customer, add data-identity="TOKEN" (a JWT the store's backend signs with the
// identity secret it shares with clerk): the conversation starts knowing who they are.
// data-label sets the button's text. The page's origin must be in clerk's --allowed-origins.
(() => {
  const script = document.currentScript;
  if (!script || window.clerkChat) return;
  // The chat page, beside this script (…/chat/widget.js → …/chat).
  const chat = new URL("../chat", script.src);
  const token = script.dataset.identity || "";
  const button = document.createElement("button");
  button.id = "clerk-chat-button";
  button.type = "button";
  button.textContent = script.dataset.label || "Chat with us";
  button.setAttribute("aria-expanded", "false");
  Object.assign(button.style, {
    position: "fixed", right: "20px", bottom: "20px", zIndex: "2147483646",
    padding: "12px 18px", border: "0", borderRadius: "24px", background: "#2255cc",
    color: "#fff", font: "600 15px system-ui, sans-serif", boxShadow: "0 2px 8px #0004",
    cursor: "pointer",
  });
  let frame = null;
  function open() {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.id = "clerk-chat-frame";
      frame.title = "Customer service chat";
      // The token travels in the fragment: never sent to a server, never in a log.
      frame.src = chat.href + (token ? "#identity=" + encodeURIComponent(token) : "");
      Object.assign(frame.style, {
        position: "fixed", right: "20px", bottom: "76px", zIndex: "2147483647",
        width: "min(380px, calc(100vw - 40px))", height: "min(560px, calc(100vh - 100px))",
        border: "0", borderRadius: "12px", boxShadow: "0 4px 24px #0005", background: "#fff",
      });
      document.body.appendChild(frame);
    }
    frame.hidden = false;
    button.setAttribute("aria-expanded", "true");
  }
  function close() {
    if (frame) frame.hidden = true;
    button.setAttribute("aria-expanded", "false");
  }
  button.addEventListener("click", () => (frame && !frame.hidden ? close() : open()));
  const mount = () => document.body.appendChild(button);
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
  window.clerkChat = { open, close };
})();
