/* The interactive map of a footprint report (Leaflet 1.9, canvas renderer, no tiles, no requests).
   Reads the JSON block #webmap-data written by simulator/reports/webmap.py; see that module for
   the data layout and webmap_geometry.py for the integer coordinate coding. */
(function () {
  "use strict";
  var holder = document.getElementById("webmap-data");
  var element = document.getElementById("webmap");
  if (!holder || !element || typeof L === "undefined") { return; }
  var D = JSON.parse(holder.textContent);
  var RAMP = ["#fde725", "#a0da39", "#4ac16d", "#1fa187", "#277f8e", "#365c8d", "#46327e"];
  var RAMP_LOW_TO_HIGH = RAMP.slice().reverse();
  var NO_DATA = "#d9dde3";
  var state = { plan: 0, metric: "familiarity", week: -1, weekly: false };

  // ------------------------------------------------------------------ decoding
  function decodePath(flat) {
    var out = [], x = 0, y = 0, q = D.quantum, ox = D.origin[0], oy = D.origin[1];
    for (var i = 0; i < flat.length; i += 2) {
      x += flat[i]; y += flat[i + 1];
      out.push([oy + y * q, ox + x * q]);
    }
    return out;
  }
  function decodeShapes(features) {
    return features.map(function (polygons) {
      return polygons.map(function (rings) { return rings.map(decodePath); });
    });
  }
  function values(q) {
    var scale = Math.pow(10, q.d);
    return q.v.map(function (v) { return v === null ? null : v / scale; });
  }
  function esc(text) {
    return String(text === null || text === undefined ? "" : text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function fmt(value, decimals) {
    if (value === null || value === undefined || !isFinite(value)) { return "–"; }
    return Number(value).toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
  }
  var DECIMALS = { population: 0, familiarity: 3, trust: 3, bookings: 2, weekly: 3 };

  // ------------------------------------------------------------------ values by layer
  var districtValues = { population: values(D.districts.population) };
  var cellValues = { population: values(D.cells.population) };
  D.plans.forEach(function (plan, p) {
    Object.keys(plan.districts).forEach(function (key) {
      districtValues[key + "@" + p] = values(plan.districts[key]);
      cellValues[key + "@" + p] = values(plan.cells[key]);
    });
    districtValues["weekly@" + p] = plan.weekly.familiarity.map(function (row) {
      return row.map(function (v) { return v === null ? null : v / 1000; });
    });
  });
  function currentValues(kind) {
    var table = kind === "cells" ? cellValues : districtValues;
    if (state.metric === "population") { return table.population; }
    if (kind === "districts" && state.weekly) {
      var weeks = table["weekly@" + state.plan];
      return weeks.length ? weeks[state.week] : [];
    }
    return table[state.metric + "@" + state.plan];
  }

  // Septile class breaks over the values of all plans (and all weeks), so colours compare;
  // equal breaks merge, so a measure with few distinct values gets fewer classes.
  function breaks(list) {
    var all = [];
    list.forEach(function (vs) { vs.forEach(function (v) { if (v !== null && isFinite(v)) { all.push(v); } }); });
    all.sort(function (a, b) { return a - b; });
    var cuts = [];
    for (var k = 1; k < RAMP.length && all.length; k++) {
      var cut = all[Math.min(all.length - 1, Math.floor(k * all.length / RAMP.length))];
      if (cut > all[0] && (!cuts.length || cut > cuts[cuts.length - 1])) { cuts.push(cut); }
    }
    return { cuts: cuts, min: all.length ? all[0] : 0, max: all.length ? all[all.length - 1] : 0 };
  }
  function classColour(k, scale) {
    var n = scale.cuts.length;
    return RAMP_LOW_TO_HIGH[n ? Math.round(k * (RAMP.length - 1) / n) : (RAMP.length - 1) / 2];
  }
  function currentBreaks(kind) {
    var table = kind === "cells" ? cellValues : districtValues, list = [];
    if (state.metric === "population") { list = [table.population]; }
    else if (kind === "districts" && state.weekly) {
      D.plans.forEach(function (_, p) { list = list.concat(table["weekly@" + p]); });
    } else {
      D.plans.forEach(function (_, p) { list.push(table[state.metric + "@" + p]); });
    }
    return breaks(list);
  }
  function colour(value, scale) {
    if (value === null || value === undefined || !isFinite(value)) { return NO_DATA; }
    var k = 0;
    while (k < scale.cuts.length && value >= scale.cuts[k]) { k++; }
    return classColour(k, scale);
  }

  // ------------------------------------------------------------------ the map
  // The first view: the stores, rivals and stations (where the results differ), else the city.
  function initialBounds() {
    var points = D.stations.xy.map(function (xy) { return decodePath(xy)[0]; });
    D.plans.forEach(function (plan) {
      plan.stores.concat(plan.rivals).forEach(function (s) { points.push([s.lat, s.lon]); });
    });
    if (points.length < 2) { return D.bounds; }
    var box = L.latLngBounds(points).pad(0.15);
    return box.getNorth() - box.getSouth() > 0 && box.getEast() - box.getWest() > 0 ? box : D.bounds;
  }
  var map = L.map(element, { preferCanvas: true, zoomSnap: 0.25, attributionControl: true });
  map.attributionControl.setPrefix("Leaflet");
  if (D.attribution) { map.attributionControl.addAttribution(esc(D.attribution)); }
  L.control.scale({ imperial: false }).addTo(map);
  map.fitBounds(initialBounds(), { padding: [8, 8] });
  // One canvas for every vector layer: stacked canvases would hide the lower layers from the
  // mouse. The drawing order is restored by restack() after every toggle.
  var canvas = L.canvas({ padding: 0.3 });
  function polygonGroup(shapes, baseStyle) {
    var group = L.featureGroup();
    decodeShapes(shapes).forEach(function (latlngs, i) {
      var layer = L.polygon(latlngs, L.extend({ renderer: canvas }, baseStyle));
      layer.wmIndex = i;
      group.addLayer(layer);
    });
    return group;
  }
  var districts = polygonGroup(D.districts.shapes, { color: "#3b4652", weight: 1.2, fillOpacity: 0.75 });
  var cells = polygonGroup(D.cells.shapes, { stroke: false, fillOpacity: 0.8 });

  function areaTooltip(kind) {
    return function (layer) {
      var i = layer.wmIndex, p = state.plan, rows = [];
      var district = kind === "cells" ? D.cells.district[i] : i;
      var title = esc(D.districts.names[district]) + " / " + esc(D.districts.names_en[district]);
      if (kind === "cells") { title = "Grid cell in " + title; }
      var table = kind === "cells" ? cellValues : districtValues;
      D.metrics.forEach(function (m) {
        var vs = m.key === "population" ? table.population : table[m.key + "@" + p];
        rows.push("<tr><th>" + esc(m.label) + "</th><td>" + fmt(vs[i], DECIMALS[m.key]) + "</td></tr>");
      });
      if (kind === "districts" && state.weekly && D.plans[p].weekly.days.length) {
        rows.push("<tr><th>Familiarity, " + esc(weekLabel()) + "</th><td>" +
          fmt(currentValues("districts")[i], 3) + "</td></tr>");
      }
      var plan = D.plans.length > 1 ? "<div class=\"wm-sub\">" + esc(D.plans[p].name) + "</div>" : "";
      return "<b>" + title + "</b>" + plan + "<table>" + rows.join("") + "</table>";
    };
  }
  districts.bindTooltip(areaTooltip("districts"), { sticky: true, className: "wm-tip" });
  cells.bindTooltip(areaTooltip("cells"), { sticky: true, className: "wm-tip" });

  var lines = L.featureGroup(), stations = L.featureGroup();
  D.lines.forEach(function (line) {
    line.paths.forEach(function (path) {
      L.polyline(decodePath(path), { renderer: canvas, color: line.color, weight: 2.5, opacity: 0.9 })
        .bindTooltip(esc(line.name) + " / " + esc(line.name_en), { sticky: true, className: "wm-tip" })
        .addTo(lines);
    });
  });
  D.stations.xy.forEach(function (xy, i) {
    L.circleMarker(decodePath(xy)[0], {
      renderer: canvas, radius: 2.2, color: "#2b333d", weight: 0.8, fillColor: "#ffffff", fillOpacity: 1
    }).bindTooltip("<b>" + esc(D.stations.names[i]) + "</b> / " + esc(D.stations.names_en[i]) +
      "<div class=\"wm-sub\">lines " + esc(D.stations.lines[i].split(";").join(", ")) + "</div>", { className: "wm-tip" })
      .addTo(stations);
  });

  // Stores and rivals: circle area proportional to bookings, on one scale for all plans.
  var maxBookings = 1;
  D.plans.forEach(function (plan) {
    plan.stores.concat(plan.rivals).forEach(function (s) { maxBookings = Math.max(maxBookings, s.bookings || 0); });
  });
  function radius(bookings) { return 4 + 14 * Math.sqrt(Math.max(bookings || 0, 0) / maxBookings); }
  function storePopup(s) {
    var rows = [["Format", esc(s.format)], ["Opens on day", fmt(s.open_day, 0)],
      ["Capacity / day", fmt(s.capacity, 0)], ["Bookings requested", fmt(s.bookings, 0)],
      ["Test drives", fmt(s.test_drives, 0)], ["Bookings lost", fmt(s.bookings_lost, 0)],
      ["Purchases", fmt(s.purchases, 0)],
      ["Utilisation", s.utilisation === null ? "–" : fmt(100 * s.utilisation, 1) + " %"]];
    return "<b>" + esc(s.name) + "</b><div class=\"wm-sub\">" + esc(s.id) + "</div><table>" +
      rows.map(function (r) { return "<tr><th>" + r[0] + "</th><td>" + r[1] + "</td></tr>"; }).join("") +
      "</table><div class=\"wm-sub\">Totals over the horizon in people, mean over replications.</div>";
  }
  var stores = L.featureGroup(), rivals = L.featureGroup();
  function drawSites() {
    stores.clearLayers(); rivals.clearLayers();
    var plan = D.plans[state.plan];
    plan.rivals.slice().sort(function (a, b) { return b.bookings - a.bookings; }).forEach(function (r) {
      L.circleMarker([r.lat, r.lon], {
        renderer: canvas, radius: radius(r.bookings), color: "#4a4a4a", weight: 1.2,
        dashArray: "3 2", fillColor: "#9aa5b1", fillOpacity: 0.55
      }).bindTooltip("<b>" + esc(r.name) + "</b><div class=\"wm-sub\">rival · " + esc(r.brand) + "</div>Bookings won: " +
        fmt(r.bookings, 0), { className: "wm-tip" }).addTo(rivals);
    });
    plan.stores.slice().sort(function (a, b) { return b.bookings - a.bookings; }).forEach(function (s) {
      L.circleMarker([s.lat, s.lon], {
        renderer: canvas, radius: radius(s.bookings), color: "#ffffff", weight: 1.5,
        fillColor: "#e4572e", fillOpacity: 0.9
      }).bindTooltip("<b>" + esc(s.name) + "</b><br>Bookings: " + fmt(s.bookings, 0), { className: "wm-tip" })
        .bindPopup(storePopup(s), { className: "wm-popup", maxWidth: 320 }).addTo(stores);
    });
  }

  var extras = (D.extra || []).map(function (layer) {
    var style = layer.style || {};
    var group = L.geoJSON(layer.geojson, {
      style: function (feature) { return L.extend({ renderer: canvas }, style, (feature.properties || {})._style || {}); },
      pointToLayer: function (feature, latlng) { return L.circleMarker(latlng, { renderer: canvas, radius: 4 }); },
      onEachFeature: function (feature, item) {
        if (!layer.tooltip.length) { return; }
        var props = feature.properties || {};
        item.bindTooltip(layer.tooltip.map(function (pair) {
          var v = props[pair[0]];
          return "<b>" + esc(pair[1]) + "</b>: " + esc(typeof v === "number" ? fmt(v, Math.abs(v) < 10 ? 2 : 0) : v);
        }).join("<br>"), { sticky: true, className: "wm-tip" });
      }
    });
    return { name: layer.name, group: group, visible: !!layer.visible };
  });

  // ------------------------------------------------------------------ styling and legend
  var legend = document.getElementById("webmap-legend");
  function restyle() {
    var showCells = map.hasLayer(cells);
    var dScale = currentBreaks("districts"), dv = currentValues("districts"), legendScale = dScale;
    if (showCells) {
      var cellScale = currentBreaks("cells"), cv = currentValues("cells");
      cells.eachLayer(function (layer) { layer.setStyle({ fillColor: colour(cv[layer.wmIndex], cellScale) }); });
      legendScale = cellScale;
    }
    districts.eachLayer(function (layer) {
      layer.setStyle({ fillColor: colour(dv[layer.wmIndex], dScale), fillOpacity: showCells ? 0 : 0.75 });
    });
    drawLegend(legendScale);
  }
  function metricLabel() {
    if (state.weekly) { return "Mean familiarity (0–1), districts, " + weekLabel(); }
    var m = D.metrics.filter(function (x) { return x.key === state.metric; })[0];
    return m ? m.label : state.metric;
  }
  function drawLegend(scale) {
    var d = DECIMALS[state.weekly ? "weekly" : state.metric];
    var edges = [scale.min].concat(scale.cuts, [scale.max]);
    var items = edges.slice(1).map(function (upper, k) {
      return "<span class=\"wm-swatch\" style=\"background:" + classColour(k, scale) + "\"></span>" +
        fmt(edges[k], d) + "–" + fmt(upper, d);
    });
    legend.innerHTML = "<b>" + esc(metricLabel()) + "</b> " + items.map(function (t) { return "<span class=\"wm-item\">" + t + "</span>"; }).join("") +
      "<span class=\"wm-item\"><span class=\"wm-swatch\" style=\"background:" + NO_DATA + "\"></span>no simulated resident</span>" +
      "<span class=\"wm-item\"><span class=\"wm-dot wm-store\"></span>store (area ∝ bookings)</span>" +
      "<span class=\"wm-item\"><span class=\"wm-dot wm-rival\"></span>rival showroom</span>";
  }

  // ------------------------------------------------------------------ controls
  var controls = document.getElementById("webmap-controls");
  function labelled(text, control) {
    var label = document.createElement("label");
    label.appendChild(document.createTextNode(text + " "));
    label.appendChild(control);
    controls.appendChild(label);
    return control;
  }
  function select(options, value) {
    var s = document.createElement("select");
    options.forEach(function (o) {
      var option = document.createElement("option");
      option.value = o[0]; option.textContent = o[1]; option.selected = o[0] === value;
      s.appendChild(option);
    });
    return s;
  }
  if (D.plans.length > 1) {
    var planSelect = labelled("Plan", select(D.plans.map(function (p, i) { return [String(i), p.name]; }), "0"));
    planSelect.id = "webmap-plan";
    planSelect.addEventListener("change", function () { state.plan = Number(planSelect.value); drawSites(); restyle(); });
  }
  var metricSelect = labelled("Colour by", select(D.metrics.map(function (m) { return [m.key, m.label]; }), state.metric));
  metricSelect.id = "webmap-metric";
  metricSelect.addEventListener("change", function () { state.metric = metricSelect.value; state.weekly = false; syncWeek(); restyle(); });

  var weeks = D.plans[0].weekly.days.length;
  function weekLabel() {
    var w = D.plans[state.plan].weekly;
    if (!w.days.length) { return ""; }
    return "day " + (w.days[state.week] + 1) + (w.dates.length ? " (" + w.dates[state.week] + ")" : "");
  }
  var slider = null, weekText = null, weekBox = null;
  if (weeks) {
    state.week = weeks - 1;
    weekBox = document.createElement("input");
    weekBox.type = "checkbox"; weekBox.id = "webmap-weekly";
    labelled("Familiarity week by week", weekBox);
    slider = document.createElement("input");
    slider.type = "range"; slider.min = "0"; slider.max = String(weeks - 1); slider.value = String(weeks - 1);
    slider.id = "webmap-week";
    slider.setAttribute("aria-label", "week");
    controls.appendChild(slider);
    weekText = document.createElement("span");
    weekText.className = "wm-week";
    controls.appendChild(weekText);
    weekBox.addEventListener("change", function () { state.weekly = weekBox.checked; syncWeek(); restyle(); });
    slider.addEventListener("input", function () {
      state.week = Number(slider.value); state.weekly = true; syncWeek(); restyle();
    });
  }
  function syncWeek() {
    if (!weekBox) { return; }
    weekBox.checked = state.weekly;
    weekText.textContent = state.weekly ? "week " + (state.week + 1) + " of " + weeks + ", " + weekLabel() : "";
    if (state.weekly) { state.metric = "familiarity"; metricSelect.value = "familiarity"; }
    // The weekly snapshots are by district: the slider shows districts, not cells.
    if (state.weekly && map.hasLayer(cells)) { map.removeLayer(cells); toggles.cells.checked = false; }
    if (state.weekly && !map.hasLayer(districts)) { districts.addTo(map); toggles.districts.checked = true; restack(); }
  }

  // [id, label, layer, shown at first, drawing order]
  var layerList = [["districts", "Districts", districts, true, 1], ["cells", "Cells", cells, false, 0],
    ["lines", "Subway lines", lines, true, 3], ["stations", "Stations", stations, true, 4],
    ["stores", "Stores", stores, true, 6], ["rivals", "Rivals", rivals, true, 5]];
  extras.forEach(function (x, i) { layerList.push(["extra" + i, x.name, x.group, x.visible, 2]); });
  var toggles = {};
  var box = document.createElement("span");
  box.className = "wm-layers";
  layerList.forEach(function (item) {
    var label = document.createElement("label"), check = document.createElement("input");
    check.type = "checkbox"; check.checked = item[3]; check.id = "webmap-layer-" + item[0];
    label.appendChild(check); label.appendChild(document.createTextNode(" " + item[1]));
    box.appendChild(label);
    toggles[item[0]] = check;
    if (item[3]) { item[2].addTo(map); }
    check.addEventListener("change", function () {
      if (check.checked && item[0] === "cells" && state.weekly) { state.weekly = false; syncWeek(); }
      if (check.checked) { item[2].addTo(map); } else { map.removeLayer(item[2]); }
      restack();
      restyle();
    });
  });
  controls.appendChild(box);

  function restack() {
    layerList.slice().sort(function (a, b) { return a[4] - b[4]; }).forEach(function (item) {
      if (map.hasLayer(item[2])) { item[2].bringToFront(); }
    });
  }
  drawSites();
  restack();
  syncWeek();
  restyle();
  window.footprintMap = map;
  element.setAttribute("data-ready", "1");
})();
