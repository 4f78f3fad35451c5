// MathJax 3 from this site (docs/js/mathjax/: tex-chtml-full.js and its woff-v2 fonts, mathjax-full 3.2.2 as shipped
// in the django-static-mathjax 3.2.2.1 wheel, Apache-2.0, see LICENSE there): typesets $...$ and $$...$$ in notebook
// pages. No CDN: mkdocs-jupyter's own MathJax tag is left empty (custom_mathjax_url: "" in mkdocs.yml) and its
// MathJax 2 configuration does nothing while window.MathJax is unset.
(function () {
  if (!document.querySelector(".jupyter-wrapper")) return;  // hand-written and API pages have no math
  window.MathJax = {
    tex: {
      inlineMath: [["$", "$"], ["\\(", "\\)"]],
      displayMath: [["$$", "$$"], ["\\[", "\\]"]],
      processEscapes: true,
      processEnvironments: true,
      tags: "ams",
    },
    chtml: { displayAlign: "center" },
  };
  var script = document.createElement("script");
  script.src = document.currentScript.src.replace(/mathjax-config\.js(\?.*)?$/, "mathjax/tex-chtml-full.js");
  script.async = true;
  document.head.appendChild(script);
})();
