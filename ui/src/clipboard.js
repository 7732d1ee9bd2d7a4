// Copy text: the async Clipboard API where the page is a secure context (https, localhost),
// else the old hidden-textarea + execCommand('copy') route (plain http on a LAN address).

export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text)
      return true
    } catch {
      // permission refused or unfocused document: try the fallback
    }
  }
  const area = document.createElement('textarea')
  area.value = text
  area.setAttribute('readonly', '')
  area.style.position = 'fixed'
  area.style.top = '-1000px'
  area.style.opacity = '0'
  document.body.appendChild(area)
  const previous = document.activeElement
  area.select()
  area.setSelectionRange(0, text.length)
  let ok = false
  try {
    ok = document.execCommand('copy')
  } catch {
    ok = false
  }
  document.body.removeChild(area)
  if (previous && typeof previous.focus === 'function') previous.focus()
  return ok
}
