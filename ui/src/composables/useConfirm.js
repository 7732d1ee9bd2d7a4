// An in-page confirmation dialog (not window.confirm): `await confirm({...})` → true/false.
// <ConfirmDialog/> in App.vue renders the one pending request.
import { shallowRef } from 'vue'

export const confirmRequest = shallowRef(null)

export function confirm({
  title = 'Are you sure?',
  message = '',
  okLabel = 'Confirm',
  cancelLabel = 'Cancel',
  danger = false,
} = {}) {
  if (confirmRequest.value) confirmRequest.value.resolve(false)
  return new Promise((resolve) => {
    confirmRequest.value = {
      title,
      message,
      okLabel,
      cancelLabel,
      danger,
      resolve: (answer) => {
        confirmRequest.value = null
        resolve(answer)
      },
    }
  })
}

export function useConfirm() {
  return confirm
}
