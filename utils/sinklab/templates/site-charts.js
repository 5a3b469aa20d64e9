// sinklab: draw every chart of the page with the local vega-embed; the PNG under it is the fallback.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".sinklab-chart").forEach(async (box) => {
    const spec = box.querySelector("script.sinklab-spec");
    if (!spec || !window.vegaEmbed) return;
    const target = document.createElement("div");
    target.className = "sinklab-vega";
    box.prepend(target);
    try {
      await window.vegaEmbed(target, JSON.parse(spec.textContent),
        {renderer: "svg", actions: {export: true, source: false, compiled: false, editor: false}});
      box.classList.add("sinklab-interactive");
    } catch (error) {
      target.remove();
      console.warn("sinklab: chart shown as its PNG:", error);
    }
  });
});
