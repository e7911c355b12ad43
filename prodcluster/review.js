// The review page: the run's clusters, corrected by a list of decisions that is replayed on them.
// corrections.py replays the same list the same way when apply_review.py applies review.json.
"use strict";
const run = JSON.parse(document.getElementById("review-data").textContent);
const storageKey = `prodcluster-review:${run.dataset}:${run.run}`;
const firstNew = Math.max(-1, ...run.clusters.map((cluster) => cluster.label)) + 1;
const byLabel = new Map(run.clusters.map((cluster) => [cluster.label, cluster]));
const order = run.clusters.map((cluster) => cluster.label);  // largest first; new clusters follow their source
let decisions = [], undone = [], selectedPhotos = new Set(), selectedClusters = new Set(), state;

function stored() {
  try {
    const saved = JSON.parse(localStorage.getItem(storageKey) || "null");
    return saved && Array.isArray(saved.decisions) ? saved : {decisions: [], undone: []};
  } catch (error) {
    return {decisions: [], undone: []};
  }
}

function save() {
  try {
    localStorage.setItem(storageKey, JSON.stringify({decisions, undone}));
  } catch (error) {
    say(`the decisions could not be kept in this browser (${error.message}): export them now`);
  }
}

// --- replaying the decisions --------------------------------------------------------------

function replay() {
  const members = new Map(run.clusters.map((cluster) => [cluster.label, [...cluster.photos]]));
  const clusterOf = new Map();
  members.forEach((rows, label) => rows.forEach((row) => clusterOf.set(row, label)));
  const names = new Map(), reviewed = new Set(), dropped = new Set();
  const shown = [...order];
  for (const decision of decisions) {
    let rows = decision.photos.map((file) => rowByFile.get(file));
    const into = decision.into;
    if (decision.action === "split" && !members.has(into)) {
      members.set(into, []);
      shown.splice(shown.indexOf(decision.clusters[0]) + 1, 0, into);
    }
    if (decision.action === "merge") {
      const others = decision.clusters.filter((label) => label !== into).flatMap((label) => members.get(label));
      rows = [...new Set([...rows, ...others])];
    }
    for (const row of rows) {
      const from = members.get(clusterOf.get(row));
      from.splice(from.indexOf(row), 1);
      if (decision.action === "not_product") {
        clusterOf.delete(row);
        dropped.add(row);
      } else {
        members.get(into).push(row);
        clusterOf.set(row, into);
      }
    }
    if (decision.action === "name") names.set(decision.clusters[0], decision.name);
    decision.clusters.forEach((label) => reviewed.add(label));
    if (into !== undefined) reviewed.add(into);
  }
  return {members, clusterOf, names, reviewed, dropped, shown};
}

const rowByFile = new Map(run.photos.map((photo, row) => [photo.file, row]));

function nextNewLabel() {
  return Math.max(firstNew, ...decisions.filter((d) => d.action === "split").map((d) => d.into + 1));
}

// --- decisions ----------------------------------------------------------------------------

function decide(decision) {
  decisions.push(decision);
  undone = [];
  clearSelection();
  refresh(`${decisions.length} decision(s): ${describe(decision)}`);
}

function describe(decision) {
  const photos = `${decision.photos.length} photo(s)`;
  return {
    merge: () => `clusters ${decision.clusters.join(", ")} merged into ${decision.into}`,
    split: () => `${photos} split off into new cluster ${decision.into}`,
    move: () => `${photos} moved to cluster ${decision.into}`,
    not_product: () => `${photos} marked not a product`,
    name: () => `cluster ${decision.clusters[0]} named "${decision.name}"`,
    confirm: () => `cluster(s) ${decision.clusters.join(", ")} confirmed`,
  }[decision.action]();
}

function selectedFiles() {
  return [...selectedPhotos].sort((a, b) => a - b).map((row) => run.photos[row].file);
}

function sourcesOf(rows) {
  return [...new Set([...rows].map((row) => state.clusterOf.get(row)))].sort((a, b) => a - b);
}

const actions = {
  merge() {
    const labels = [...selectedClusters].sort((a, b) => a - b);
    if (labels.length < 2) return say("select two clusters or more to merge");
    const into = labels.reduce((best, label) =>
      state.members.get(label).length > state.members.get(best).length ? label : best);
    const photos = labels.filter((label) => label !== into).flatMap((label) => state.members.get(label));
    decide({action: "merge", clusters: labels, into, photos: photos.map((row) => run.photos[row].file)});
  },
  split() {
    if (!selectedPhotos.size) return say("select the photos to split off");
    decide({action: "split", clusters: sourcesOf(selectedPhotos), into: nextNewLabel(), photos: selectedFiles()});
  },
  move() {
    const into = Number(document.getElementById("target").value);
    if (!selectedPhotos.size) return say("select the photos to move");
    if (!document.getElementById("target").value || !state.members.get(into)?.length) {
      return say("type the number of an existing cluster to move the photos to");
    }
    const rows = [...selectedPhotos].filter((row) => state.clusterOf.get(row) !== into);
    if (!rows.length) return say(`the selected photos are in cluster ${into} already`);
    selectedPhotos = new Set(rows);
    decide({action: "move", clusters: sourcesOf(rows), into, photos: selectedFiles()});
  },
  notProduct() {
    if (!selectedPhotos.size) return say("select the photos that show no product");
    decide({action: "not_product", clusters: sourcesOf(selectedPhotos), photos: selectedFiles()});
  },
  name() {
    const name = document.getElementById("name").value.trim();
    if (selectedClusters.size !== 1 || !name) return say("select one cluster and type its name");
    decide({action: "name", clusters: [...selectedClusters], name, photos: []});
  },
  confirm() {
    if (!selectedClusters.size) return say("select the clusters that are right as they are");
    decide({action: "confirm", clusters: [...selectedClusters].sort((a, b) => a - b), photos: []});
  },
  undo() {
    if (!decisions.length) return say("nothing to undo");
    undone.push(decisions.pop());
    refresh(`undone: ${describe(undone[undone.length - 1])}`);
  },
  redo() {
    if (!undone.length) return say("nothing to redo");
    decisions.push(undone.pop());
    refresh(`redone: ${describe(decisions[decisions.length - 1])}`);
  },
  exportReview() {
    const review = {format: run.format, dataset: run.dataset, run: run.run, exported: new Date().toISOString(),
                    decisions};
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([JSON.stringify(review, null, 1)], {type: "application/json"}));
    link.download = "review.json";
    document.body.append(link);
    link.click();
    link.remove();
    say(`exported ${decisions.length} decision(s) as review.json`);
  },
};

// --- the page -------------------------------------------------------------------------------

function say(text) {
  document.getElementById("status").textContent = text;
}

function clearSelection() {
  selectedPhotos = new Set();
  selectedClusters = new Set();
  for (const {row} of drawn.values()) {
    row.querySelectorAll(".selected").forEach((selected) => selected.classList.remove("selected"));
    row.classList.remove("selected");
    row.querySelector("h2 input").checked = false;
  }
}

function refresh(message) {
  state = replay();
  save();
  render();
  const photos = [...state.members.values()].reduce((sum, rows) => sum + rows.length, 0);
  const k = [...state.members.values()].filter((rows) => rows.length).length;
  say(`${k} clusters, ${photos} photos, ${state.dropped.size} not a product; ${decisions.length} decision(s)` +
      (message ? `. ${message}` : ""));
}

function likelyWrong(cluster) {
  return cluster && (cluster.poor > 0 || cluster.near !== null);
}

const drawn = new Map();  // label: {key, row}; a row is drawn again only when what it shows has changed

function render() {
  const onlyWrong = document.getElementById("filter").checked;
  const fragment = document.createDocumentFragment();
  for (const label of state.shown) {
    const rows = state.members.get(label);
    if (!rows.length || (onlyWrong && (state.reviewed.has(label) || !likelyWrong(byLabel.get(label))))) continue;
    const key = `${rows.join(",")}|${state.names.get(label) ?? ""}|${state.reviewed.has(label)}`;
    if (drawn.get(label)?.key !== key) drawn.set(label, {key, row: clusterRow(label, rows)});
    fragment.append(drawn.get(label).row);
  }
  document.getElementById("clusters").replaceChildren(fragment);
}

function clusterRow(label, rows) {
  const row = element("section", "cluster");
  row.id = `cluster-${label}`;
  row.dataset.label = label;
  row.classList.toggle("selected", selectedClusters.has(label));
  const heading = element("h2");
  const box = element("input");
  box.type = "checkbox";
  box.checked = selectedClusters.has(label);
  box.setAttribute("aria-label", `select cluster ${label}`);
  box.addEventListener("change", () => toggle(selectedClusters, label, row));
  heading.append(box, ` Cluster ${label}`);
  heading.append(span(`${rows.length} photo${rows.length === 1 ? "" : "s"}`));
  const original = byLabel.get(label);
  if (state.names.has(label)) heading.append(span(`“${state.names.get(label)}”`));
  if (original) heading.append(span(`sure ${original.sure.toFixed(2)}`));
  if (original?.poor) heading.append(span(`${original.poor} photo(s) fit poorly`, "flag"));
  if (original && original.near !== null) heading.append(span(`may be one model with cluster ${original.near}`, "flag"));
  if (!original) heading.append(span("new", "flag"));
  if (state.reviewed.has(label)) heading.append(span("reviewed", "done"));
  const thumbs = element("div", "thumbs");
  thumbs.append(...rows.map(photoButton));
  row.append(heading, thumbs);
  return row;
}

function photoButton(row) {
  const photo = run.photos[row];
  const button = element("button", "photo");
  button.type = "button";
  button.dataset.file = photo.file;
  button.classList.toggle("poor", !photo.fits);
  button.classList.toggle("new", Boolean(photo.new));
  button.classList.toggle("selected", selectedPhotos.has(row));
  button.title = photo.title + (photo.fits ? "" : " (fits its cluster poorly)") + (photo.new ? `, new: ${photo.new}` : "");
  const image = element("img");
  image.loading = "lazy";
  image.decoding = "async";
  image.width = image.height = 80;
  image.alt = photo.file;
  image.src = photo.thumb;
  button.append(image);
  button.addEventListener("click", () => toggle(selectedPhotos, row, button));
  button.addEventListener("dblclick", () => window.open(photo.href, "_blank"));
  return button;
}

function toggle(set, key, shownElement) {
  if (set.has(key)) set.delete(key); else set.add(key);
  shownElement.classList.toggle("selected", set.has(key));
}

function element(tag, className) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  return made;
}

function span(text, className) {
  const made = element("span", className);
  made.textContent = text;
  return made;
}

const buttons = {merge: "merge", split: "split", move: "move", "not-product": "notProduct", "name-cluster": "name",
                 confirm: "confirm", undo: "undo", redo: "redo", export: "exportReview"};
Object.entries(buttons).forEach(([id, action]) =>
  document.getElementById(id).addEventListener("click", () => actions[action]()));
document.getElementById("filter").addEventListener("change", render);
const keys = {m: "merge", s: "split", v: "move", x: "notProduct", n: "name", c: "confirm", e: "exportReview"};
document.addEventListener("keydown", (event) => {
  if (event.target.matches("input[type=text], input[type=number]")) return;
  const key = event.key.toLowerCase();
  if ((event.ctrlKey || event.metaKey) && (key === "z" || key === "y")) {
    event.preventDefault();
    actions[key === "y" || event.shiftKey ? "redo" : "undo"]();
  } else if (key === "escape") {
    clearSelection();
    render();
  } else if (key === "f" && !event.ctrlKey) {
    const filter = document.getElementById("filter");
    filter.checked = !filter.checked;
    render();
  } else if (keys[key] && !event.ctrlKey && !event.metaKey && !event.altKey) {
    actions[keys[key]]();
  }
});

document.getElementById("apply-command").textContent =
  `python apply_review.py --dataset ${run.dataset} review.json`;
({decisions, undone} = stored());
refresh(decisions.length ? "decisions restored from this browser" : "");
performance.mark("review-ready");
document.body.dataset.ready = "true";
