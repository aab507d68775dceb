// Calls to the gsfm serve routes. Errors become exceptions carrying the server's one sentence.

async function check(response) {
  if (response.ok) return response;
  let text = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body.error) text = body.error;
  } catch (_) { /* not JSON */ }
  throw new Error(text);
}

export async function getJSON(url) {
  return (await check(await fetch(url))).json();
}

export async function sendJSON(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return (await check(response)).json();
}

// POST a JSON body, answer the response's raw bytes (Uint8Array).
export async function postForBytes(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return new Uint8Array(await (await check(response)).arrayBuffer());
}

export async function sendBytes(method, url, bytes) {
  const response = await fetch(url, {
    method,
    headers: { "Content-Type": "application/octet-stream" },
    body: bytes,
  });
  return (await check(response)).json();
}

// Upload a file as the request body, reporting progress (fetch cannot report upload progress).
export function upload(url, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new Error((body && body.error) || `upload failed: ${xhr.status} ${xhr.statusText}`));
    };
    xhr.onerror = () => reject(new Error("upload failed: the server closed the connection (file too large?)"));
    xhr.send(file);
  });
}

// The shown mask of a frame: Uint8Array of H*W object ids, or null when the frame has none.
export async function getMask(url) {
  const response = await check(await fetch(url));
  if (response.status === 204) return null;
  return new Uint8Array(await response.arrayBuffer());
}
