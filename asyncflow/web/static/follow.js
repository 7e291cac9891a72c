// Live tail of a running try's log: append each server-sent line to the <pre>.
(function () {
  const log = document.getElementById("log");
  if (!log || !log.dataset.follow) return;
  const source = new EventSource(log.dataset.follow);
  log.textContent = "";
  source.onmessage = (event) => {
    log.textContent += event.data + "\n";
    log.scrollTop = log.scrollHeight;
  };
  source.addEventListener("end", () => source.close());
})();
