// DropForge API reference: renders the OpenAPI document served next to this page.
// Self-contained (no external scripts, styles or fonts) and builds the DOM with textContent only.
"use strict";
(function () {
  const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== undefined && value !== null) node.setAttribute(key, value);
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function paragraphs(text) {
    if (!text) return [];
    return text.split(/\n\s*\n/).map((p) => el("p", null, p.trim()));
  }

  function refName(ref) {
    return ref.split("/").pop();
  }

  function resolve(spec, item) {
    if (item && item.$ref) {
      const parts = item.$ref.replace(/^#\//, "").split("/");
      return parts.reduce((node, key) => (node ? node[key] : undefined), spec) || {};
    }
    return item || {};
  }

  function typeOf(schema) {
    if (!schema) return el("span", { class: "muted" }, "any");
    if (schema.$ref) {
      const name = refName(schema.$ref);
      return el("a", { href: "#schema-" + name }, name);
    }
    for (const key of ["oneOf", "anyOf", "allOf"]) {
      if (Array.isArray(schema[key])) {
        const out = el("span");
        schema[key].forEach((s, i) => {
          if (i) out.appendChild(document.createTextNode(key === "allOf" ? " & " : " | "));
          out.appendChild(typeOf(s));
        });
        return out;
      }
    }
    const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
    if (types.includes("array")) {
      const rest = types.filter((t) => t !== "array");
      return el("span", null, typeOf(schema.items), "[]", rest.length ? " | " + rest.join(" | ") : "");
    }
    let text = types.length ? types.join(" | ") : "any";
    if (schema.format) text += " (" + schema.format + ")";
    if (Array.isArray(schema.enum)) text += " ∈ {" + schema.enum.map((v) => JSON.stringify(v)).join(", ") + "}";
    return el("code", null, text);
  }

  function parametersTable(spec, params) {
    if (!params || !params.length) return null;
    const rows = params.map((raw) => {
      const p = resolve(spec, raw);
      return el(
        "tr",
        null,
        el("td", null, el("code", null, p.name)),
        el("td", null, p.in),
        el("td", null, p.required ? "required" : "optional"),
        el("td", null, typeOf(p.schema)),
        el("td", null, p.description || "", p.example !== undefined ? el("div", { class: "muted" }, "e.g. " + String(p.example)) : null),
      );
    });
    return [
      el("h4", null, "Parameters"),
      el("table", null, el("tr", null, ["Name", "In", "", "Type", "Description"].map((h) => el("th", null, h))), rows),
    ];
  }

  function contentList(content) {
    if (!content) return null;
    return el(
      "ul",
      null,
      Object.entries(content).map(([type, media]) => el("li", null, el("code", null, type), " ", typeOf(media.schema))),
    );
  }

  function headersList(spec, headers) {
    if (!headers || !Object.keys(headers).length) return null;
    return el(
      "ul",
      null,
      Object.entries(headers).map(([name, raw]) => {
        const h = resolve(spec, raw);
        return el("li", null, el("code", null, name), " ", typeOf(h.schema), h.description ? " — " + h.description : "");
      }),
    );
  }

  function responsesTable(spec, responses) {
    const rows = Object.entries(responses || {}).map(([status, raw]) => {
      const r = resolve(spec, raw);
      return el(
        "tr",
        null,
        el("td", { class: "status" }, status),
        el("td", null, r.description || "", contentList(r.content), headersList(spec, r.headers)),
      );
    });
    return [el("h4", null, "Responses"), el("table", null, el("tr", null, el("th", null, "Status"), el("th", null, "Description, body and headers")), rows)];
  }

  function operation(spec, path, method, op) {
    const id = "op-" + (op.operationId || method + path.replace(/[^A-Za-z0-9]+/g, "-"));
    const secured = (op.security || spec.security || []).some((req) => Object.keys(req).length > 0);
    const body = resolve(spec, op.requestBody);
    return el(
      "section",
      { class: "op", id },
      el(
        "h3",
        null,
        el("span", { class: "method " + method }, method.toUpperCase()),
        path,
        secured ? el("span", { class: "lock" }, "requires Authorization: Bearer") : null,
      ),
      op.summary ? el("p", null, el("strong", null, op.summary)) : null,
      paragraphs(op.description),
      parametersTable(spec, op.parameters),
      op.requestBody
        ? [el("h4", null, "Request body" + (body.required ? " (required)" : "")), paragraphs(body.description), contentList(body.content)]
        : null,
      responsesTable(spec, op.responses),
    );
  }

  function render(spec) {
    const info = spec.info || {};
    $("title").textContent = (info.title || "API") + " " + (info.version || "");
    const summary = $("summary");
    summary.textContent = "";
    summary.append("OpenAPI " + spec.openapi + " · ", el("a", { href: "openapi.json" }, "openapi.json"));
    const content = $("content");
    content.append(...paragraphs(info.description));

    const schemes = (spec.components && spec.components.securitySchemes) || {};
    if (Object.keys(schemes).length) {
      content.append(el("h2", null, "Authentication"));
      for (const [name, s] of Object.entries(schemes)) {
        content.append(el("p", null, el("code", null, name), ": " + [s.type, s.scheme, s.bearerFormat].filter(Boolean).join(" "), s.description ? " — " + s.description : ""));
      }
    }

    const toc = el("ul");
    content.append(el("h2", null, "Operations"));
    for (const [path, item] of Object.entries(spec.paths || {})) {
      for (const method of METHODS) {
        const op = item[method];
        if (!op) continue;
        const section = operation(spec, path, method, op);
        content.append(section);
        toc.append(el("li", null, el("a", { href: "#" + section.id }, method.toUpperCase() + " " + path)));
      }
    }
    $("toc").append(toc);

    const schemas = (spec.components && spec.components.schemas) || {};
    content.append(el("h2", null, "Schemas"));
    for (const [name, schema] of Object.entries(schemas)) {
      content.append(
        el(
          "details",
          { id: "schema-" + name },
          el("summary", null, el("code", null, name), schema.description ? " — " + schema.description.split("\n")[0] : ""),
          el("pre", null, JSON.stringify(schema, null, 2)),
        ),
      );
    }
    if (location.hash) {
      const target = document.getElementById(location.hash.slice(1));
      if (target) target.scrollIntoView();
    }
  }

  fetch("openapi.json", { headers: { accept: "application/json" } })
    .then((response) => {
      if (!response.ok) throw new Error("openapi.json answered " + response.status);
      return response.json();
    })
    .then(render)
    .catch((error) => {
      const summary = $("summary");
      summary.textContent = "Could not load openapi.json: " + error.message;
      summary.className = "error";
    });
})();
