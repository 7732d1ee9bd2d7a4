import { ref } from 'vue'

// Which rows of a table are expanded (a new Set on each change keeps it reactive).
export function useExpanded() {
  const expanded = ref(new Set())
  function toggle(id) {
    const next = new Set(expanded.value)
    if (next.has(id)) next.delete(id)
    else next.add(id)
    expanded.value = next
  }
  return { expanded, toggle }
}
